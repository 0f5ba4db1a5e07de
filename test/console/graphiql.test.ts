import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeWithBrowser } from '../support/backends.js';
import { launchBrowser, startConsoleApp, type Browser, type ConsoleApp } from './support.js';

const SCREENSHOTS = path.resolve(import.meta.dirname, '../../docs/screenshots');

describeWithBrowser('GraphiQL, in a browser with no internet', () => {
  let t: ConsoleApp;
  let browser: Browser;
  beforeAll(async () => {
    t = await startConsoleApp();
    browser = await launchBrowser();
  }, 180_000);
  afterAll(async () => {
    await browser?.close();
    await t?.stop();
  });

  it('loads from the API alone and runs a query, with every request to another host blocked', async () => {
    const { context, page } = await browser.person();
    const blocked: string[] = [];
    await context.route('**/*', (route) => {
      const { protocol, hostname } = new URL(route.request().url());
      if ((protocol === 'http:' || protocol === 'https:') && hostname !== '127.0.0.1' && hostname !== 'localhost') {
        blocked.push(route.request().url());
        return route.abort('internetdisconnected');
      }
      return route.continue();
    });
    await page.goto(`${t.url}/graphql`);
    // Preset with alice's token (a loopback browser in development mode) and today's example operations.
    await page.locator('.graphiql-execute-button').waitFor({ timeout: 60_000 });
    await page.getByText('CreateArtifact').first().waitFor();
    await page.locator('.graphiql-execute-button').click();
    // Two operations in the editor: GraphiQL asks which one to run.
    await page.getByRole('menuitem', { name: 'Workloads' }).click();
    await page.locator('.graphiql-response').getByText('"totalCount"').waitFor({ timeout: 30_000 });
    const response = await page.locator('.graphiql-response').innerText();
    expect(response).toContain('"workloads"');
    expect(response).not.toContain('UNAUTHENTICATED');
    await page.screenshot({ path: path.join(SCREENSHOTS, 'graphiql-offline.png') });
    expect(blocked).toEqual([]);
  }, 120_000);
});
