import { createHash, randomBytes } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StartWorkloadDocument, StopWorkloadDocument, UpdateWorkloadSharedRolesDocument, WorkloadStatisticsDocument } from '../graphql/generated/graphql.js';
import { describeEachDatabase } from '../support/backends.js';
import { bearer, createRunningWorkload, endpointOf, startInvokeApp, uuidOf, waitForWorkload, type Echo, type InvokeTestApp, type WorkloadView } from './support.js';

const MiB = 1024 * 1024;

describeEachDatabase('the invoke endpoint', (backend) => {
  let t: InvokeTestApp;
  let w: WorkloadView;
  let auth: string;

  beforeAll(async () => {
    t = await startInvokeApp(backend, {
      INVOKE_MAX_REQUEST_BYTES: String(10 * MiB),
      INVOKE_MAX_RESPONSE_BYTES: String(24 * MiB),
      INVOKE_UPSTREAM_TIMEOUT_MS: '1500',
      INVOKE_RETRY_AFTER_SECONDS: '7',
    });
    auth = await bearer();
    w = await createRunningWorkload(t);
  });
  afterAll(() => t?.stop());

  const call = (path: string, init: RequestInit & { duplex?: 'half' } = {}, authorization: string | null = auth) =>
    fetch(`${endpointOf(t, w)}${path}`, {
      ...init,
      headers: { ...(authorization !== null && { authorization }), ...(init.headers as Record<string, string>) },
    });

  it('has the endpoint under the public base URL, from creation on', async () => {
    const { workload } = await t.exec(WorkloadStatisticsDocument, { id: w.id });
    expect(workload).toMatchObject({ endpoint: `http://127.0.0.1:0/endpoints/workloads/${uuidOf(w.id)}/` });
  });

  it('forwards every method with its path remainder, query and headers, and strips the caller\'s credentials', async () => {
    const active = w.protons.find((p) => p.role === 'ACTIVE')!;
    for (const method of ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']) {
      const body = ['GET', 'OPTIONS'].includes(method) ? undefined : `payload of ${method}`;
      const res = await call('orders/42/a%20b?x=1&y=two', {
        method,
        body,
        headers: { 'x-custom': 'kept', 'content-type': 'text/plain', cookie: 'session=workload-owned', 'proxy-authorization': 'Basic c2VjcmV0' },
      });
      expect(res.status, method).toBe(200);
      const echo = (await res.json()) as Echo;
      expect(echo).toMatchObject({ workloadId: uuidOf(w.id), protonId: uuidOf(active.id), method, path: '/orders/42/a%20b', query: '?x=1&y=two' });
      expect(echo.body).toBe(body ?? '');
      expect(echo.headers['x-custom']).toBe('kept');
      expect(echo.headers.authorization).toBeUndefined();
      expect(echo.headers['proxy-authorization']).toBeUndefined();
      expect(echo.headers.cookie).toBe('session=workload-owned');
      expect(echo.headers['x-forwarded-prefix']).toBe(`/endpoints/workloads/${uuidOf(w.id)}`);
      expect(echo.headers['x-forwarded-for']).toBeDefined();
      expect(res.headers.get('x-proton-id')).toBe(uuidOf(active.id));
    }
    const head = await call('anything', { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.headers.get('x-workload-id')).toBe(uuidOf(w.id));
    expect(await head.text()).toBe('');
  });

  it('forwards the endpoint root without a trailing slash as "/"', async () => {
    const res = await fetch(endpointOf(t, w).replace(/\/$/, '') + '?q=1', { headers: { authorization: auth } });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ path: '/', query: '?q=1' });
  });

  it('takes the workload\'s global id (the id the API returns) in place of its UUID, in every base64 spelling', async () => {
    const urlSafe = w.id.replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
    for (const id of [w.id, urlSafe, encodeURIComponent(w.id)]) {
      const res = await fetch(`${t.baseUrl}/endpoints/workloads/${id}/hello?x=1`, { headers: { authorization: auth } });
      expect(res.status, id).toBe(200);
      const echo = (await res.json()) as Echo;
      expect(echo).toMatchObject({ workloadId: uuidOf(w.id), path: '/hello', query: '?x=1' });
      // The workload sees one prefix, whichever form the caller used.
      expect(echo.headers['x-forwarded-prefix']).toBe(`/endpoints/workloads/${uuidOf(w.id)}`);
    }
    // A global id of another type names no workload.
    const artifactId = Buffer.from(`Artifact:${uuidOf(w.id)}`).toString('base64');
    const other = await fetch(`${t.baseUrl}/endpoints/workloads/${artifactId}/`, { headers: { authorization: auth } });
    expect(other.status).toBe(404);
    expect(other.headers.get('x-invoke-error')).toBe('NOT_FOUND');
  });

  it('passes the workload\'s own statuses and headers back unchanged', async () => {
    const res = await call('missing', { headers: { 'x-sim-status': '418' } });
    expect(res.status).toBe(418);
    expect(res.headers.get('x-invoke-error')).toBeNull();
    expect(res.headers.get('x-replica')).toMatch(/^proton-/);
  });

  it('streams request and response bodies both ways: each chunk comes back before the next is sent', async () => {
    const encoder = new TextEncoder();
    let push!: (chunk: string | null) => void;
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        push = (chunk) => (chunk === null ? controller.close() : controller.enqueue(encoder.encode(chunk)));
      },
    });
    push('chunk-1;');
    const res = await call('stream', { method: 'POST', body, duplex: 'half', headers: { 'x-sim-behaviour': 'echo-body', 'content-type': 'text/plain' } });
    expect(res.status).toBe(200);
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    let received = '';
    for (const next of ['chunk-2;', 'chunk-3;', null]) {
      // The previous chunk must have made the round trip while the request is still open.
      while (!received.endsWith(next === 'chunk-2;' ? 'chunk-1;' : next === 'chunk-3;' ? 'chunk-2;' : 'chunk-3;')) {
        const { value, done } = await reader.read();
        if (done) throw new Error(`response ended early: ${received}`);
        received += decoder.decode(value, { stream: true });
      }
      push(next);
    }
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      received += decoder.decode(value, { stream: true });
    }
    expect(received).toBe('chunk-1;chunk-2;chunk-3;');
  });

  it('passes large bodies through intact, in both directions', async () => {
    const payload = randomBytes(8 * MiB);
    const up = await call('upload', { method: 'PUT', body: payload, headers: { 'content-type': 'application/octet-stream' } });
    expect(up.status).toBe(200);
    const echo = (await up.json()) as Echo;
    expect(echo.bodyBytes).toBe(payload.length);
    expect(echo.bodySha256).toBe(createHash('sha256').update(payload).digest('hex'));

    for (const chunked of ['0', '1']) {
      const down = await call('download', { headers: { 'x-sim-response-bytes': String(20 * MiB), 'x-sim-chunked': chunked } });
      expect(down.status).toBe(200);
      expect((await down.arrayBuffer()).byteLength).toBe(20 * MiB);
    }
  });

  it('answers 401 without a valid bearer token, before looking the workload up', async () => {
    const none = await call('', {}, null);
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toBe('Bearer');
    expect(await none.json()).toMatchObject({ error: { code: 'UNAUTHENTICATED' } });
    expect((await call('', {}, 'Bearer not-a-token')).status).toBe(401);
  });

  it('answers 404 for an unknown workload and for one the caller holds no role on; any role may invoke', async () => {
    const unknown = await fetch(`${t.baseUrl}/endpoints/workloads/00000000-0000-4000-8000-000000000000/`, { headers: { authorization: auth } });
    expect(unknown.status).toBe(404);
    expect(unknown.headers.get('x-invoke-error')).toBe('NOT_FOUND');
    expect((await fetch(`${t.baseUrl}/endpoints/workloads/not-an-id/x`, { headers: { authorization: auth } })).status).toBe(404);

    const stranger = await bearer({ sub: 'stranger' });
    const forbidden = await call('', {}, stranger);
    expect(forbidden.status).toBe(404);
    // The same answer as for a workload that does not exist: nothing tells that it does.
    expect(((await forbidden.json()) as { error: { code: string } }).error.code).toBe('NOT_FOUND');

    const { updateWorkloadSharedRoles } = await t.exec(UpdateWorkloadSharedRolesDocument, {
      input: {
        id: w.id,
        roles: [
          { subjectType: 'USER' as never, subjectId: 'developer', role: 'OWNER' as never },
          { subjectType: 'USER' as never, subjectId: 'stranger', role: 'OBSERVER' as never },
        ],
      },
    });
    expect(updateWorkloadSharedRoles.__typename).toBe('UpdateWorkloadSharedRolesPayload');
    const observer = await call('hello', {}, stranger);
    expect(observer.status).toBe(200);
    expect(((await observer.json()) as Echo).headers.authorization).toBeUndefined();
  });

  it('answers 413 for a request body over the limit, declared or streamed', async () => {
    const declared = await call('big', { method: 'POST', body: Buffer.alloc(10 * MiB + 1) });
    expect(declared.status).toBe(413);
    expect(declared.headers.get('x-invoke-error')).toBe('REQUEST_TOO_LARGE');

    const chunk = new Uint8Array(MiB);
    let sent = 0;
    const streamed = await call('big', {
      method: 'POST',
      duplex: 'half',
      body: new ReadableStream<Uint8Array>({
        pull(controller) {
          if (sent >= 12 * MiB) return controller.close();
          sent += chunk.length;
          controller.enqueue(chunk);
        },
      }),
    }).catch((err: unknown) => err);
    // The caller gets the 413, or (if it was still sending when the connection closed) an error; never a 200.
    if (streamed instanceof Response) expect(streamed.status).toBe(413);
    else expect(streamed).toBeInstanceOf(Error);
  });

  it('answers 502 for a response declared over the limit, and cuts one that outgrows it', async () => {
    const declared = await call('huge', { headers: { 'x-sim-response-bytes': String(24 * MiB + 1) } });
    expect(declared.status).toBe(502);
    expect(await declared.json()).toMatchObject({ error: { code: 'RESPONSE_TOO_LARGE' } });

    const streamed = await call('huge', { headers: { 'x-sim-response-bytes': String(30 * MiB), 'x-sim-chunked': '1' } });
    expect(streamed.status).toBe(200);
    await expect(streamed.arrayBuffer()).rejects.toThrow();
  });

  it('answers 502 when the replica closes the connection without a response', async () => {
    const res = await call('x', { headers: { 'x-sim-behaviour': 'reset' } });
    expect(res.status).toBe(502);
    const body = (await res.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe('UPSTREAM_ERROR');
    expect(body.error.message).toContain(uuidOf(w.protons[0]!.id));
  });

  it('answers 504 when the replica does not answer within the upstream timeout', async () => {
    const started = Date.now();
    const res = await call('slow', { headers: { 'x-sim-behaviour': 'hang' } });
    expect(res.status).toBe(504);
    expect(await res.json()).toMatchObject({ error: { code: 'UPSTREAM_TIMEOUT' } });
    expect(Date.now() - started).toBeGreaterThanOrEqual(1400);
  });

  it('keeps the caller\'s connection usable after an error answer', async () => {
    // Two requests over one keep-alive connection: a 404 and then a forwarded one.
    const agentResults = await new Promise<number[]>((resolve, reject) => {
      const statuses: number[] = [];
      const one = (path: string, next: () => void) =>
        httpRequest(`${t.baseUrl}${path}`, { headers: { authorization: auth, connection: 'keep-alive' } }, (res) => {
          statuses.push(res.statusCode ?? 0);
          res.resume();
          res.on('end', next);
        })
          .on('error', reject)
          .end();
      one('/endpoints/workloads/00000000-0000-4000-8000-000000000000/', () =>
        one(`/endpoints/workloads/${uuidOf(w.id)}/again`, () => resolve(statuses)),
      );
    });
    expect(agentResults).toEqual([404, 200]);
  });

  describe('with no running proton', () => {
    it('answers 503 with Retry-After and a body that says the workload\'s status, and serves again once started', async () => {
      const other = await createRunningWorkload(t);
      const { stopWorkload } = await t.exec(StopWorkloadDocument, { id: other.id });
      expect(stopWorkload.__typename).toBe('WorkloadOperationPayload');
      await waitForWorkload(t, other.id, (x) => x.status === 'STOPPED');
      const res = await fetch(`${endpointOf(t, other)}ping`, { headers: { authorization: auth } });
      expect(res.status).toBe(503);
      expect(res.headers.get('retry-after')).toBe('7');
      const body = (await res.json()) as { error: { code: string; message: string; workloadStatus: string } };
      expect(body.error).toMatchObject({ code: 'WORKLOAD_UNAVAILABLE', workloadStatus: 'STOPPED' });
      expect(body.error.message).toContain('STOPPED');

      // The same endpoint serves again once the workload is started.
      const { startWorkload } = await t.exec(StartWorkloadDocument, { id: other.id });
      expect(startWorkload.__typename).toBe('WorkloadOperationPayload');
      await waitForWorkload(t, other.id, (x) => x.status === 'RUNNING');
      const again = await fetch(`${endpointOf(t, other)}ping`, { headers: { authorization: auth } });
      expect(again.status).toBe(200);
      expect(((await again.json()) as Echo).workloadId).toBe(uuidOf(other.id));
    });
  });
});
