import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConsoleSite } from '../../src/console/console-site.js';

async function serve(site: ConsoleSite): Promise<{ url: string; server: Server }> {
  const server = createServer((req, res) => {
    if (site.handles(req)) site.handle(req, res);
    else {
      res.statusCode = 418;
      res.end('not the console');
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

/** A GET with the path sent exactly as written (fetch would resolve the dots first). */
function rawGet(url: string, rawPath: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(`${url}${rawPath}`, { path: rawPath }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('the console site', () => {
  let root: string;
  let built: { url: string; server: Server };
  let unbuilt: { url: string; server: Server };
  beforeAll(async () => {
    root = await mkdtemp(path.join(tmpdir(), 'wl-console-site-'));
    await mkdir(path.join(root, 'dist', 'assets'), { recursive: true });
    await writeFile(path.join(root, 'dist', 'index.html'), '<!doctype html><title>console</title>');
    await writeFile(path.join(root, 'dist', 'assets', 'app-1234.js'), 'console.log(1)');
    await writeFile(path.join(root, 'secret.txt'), 'outside');
    built = await serve(new ConsoleSite({ root: path.join(root, 'dist'), developmentTokensFor: () => ({ alice: 'token-a' }) }));
    unbuilt = await serve(new ConsoleSite({ root: path.join(root, 'missing'), developmentTokensFor: () => ({}) }));
  });
  afterAll(async () => {
    built?.server.close();
    unbuilt?.server.close();
    await rm(root, { recursive: true, force: true });
  });

  it('serves the page at / and its hashed assets under /console/, cached for good', async () => {
    const page = await fetch(`${built.url}/`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(page.headers.get('cache-control')).toBe('no-cache');
    expect(await page.text()).toContain('<title>console</title>');
    const asset = await fetch(`${built.url}/console/assets/app-1234.js`);
    expect(asset.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect(asset.headers.get('cache-control')).toContain('immutable');
    expect(await asset.text()).toBe('console.log(1)');
  });

  it('leaves every other path to the API, and serves nothing outside its directory', async () => {
    expect((await fetch(`${built.url}/graphql`)).status).toBe(418);
    expect((await fetch(`${built.url}/console/assets/none.js`)).status).toBe(404);
    expect((await fetch(`${built.url}/console/..%2Fsecret.txt`)).status).toBe(404);
    for (const raw of ['/console/../secret.txt', '/console/%2e%2e/secret.txt', '/console/assets/../../secret.txt']) {
      const answer = await rawGet(built.url, raw);
      expect(answer.body, raw).not.toContain('outside');
      expect(answer.status, raw).toBe(404);
    }
    expect((await fetch(`${built.url}/`, { method: 'POST', body: 'x' })).status).toBe(405);
  });

  it('lists the development subjects it is given, never cached', async () => {
    const res = await fetch(`${built.url}/console/development-subjects`);
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(await res.json()).toEqual({ subjects: [{ name: 'alice', token: 'token-a' }] });
    expect(await (await fetch(`${unbuilt.url}/console/development-subjects`)).json()).toEqual({ subjects: [] });
  });

  it('says how to build the console when it is not built', async () => {
    const res = await fetch(`${unbuilt.url}/`);
    expect(res.status).toBe(503);
    expect(await res.text()).toContain('npm run console:build');
  });
});
