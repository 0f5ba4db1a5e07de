import { rm } from 'node:fs/promises';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeWithBrowser } from '../support/backends.js';
import { launchBrowser, signInAs, startConsoleApp, type Browser } from './support.js';

type Started = Awaited<ReturnType<typeof startConsoleApp>>;

describeWithBrowser('the console across an API restart', () => {
  let first: Started;
  let second: Started | undefined;
  let browser: Browser;
  beforeAll(async () => {
    first = await startConsoleApp();
    browser = await launchBrowser();
  }, 180_000);
  afterAll(async () => {
    await browser?.close();
    if (second) await second.stop();
    else await first?.stop();
    if (first?.database.kind === 'pglite') await rm(first.database.dataDir, { recursive: true, force: true });
  });

  it('shows the connection drop, reconnects, resubscribes and resumes the event log with no gap and no duplicate', async () => {
    const { page } = await browser.person();
    await signInAs(page, first.url, 'alice');
    await page.getByRole('link', { name: 'New workload' }).click();
    await page.getByLabel('Name').fill('resilient');
    await page.getByRole('button', { name: 'Create' }).click();
    await page.getByTestId('workload-status').filter({ hasText: 'RUNNING' }).waitFor({ timeout: 30_000 });
    await page.locator('[data-connection="connected"]').waitFor();
    const before = await page.locator('tr[data-event-type] td.seq').allTextContents();

    // The API goes away (its WebSockets close with 1001) and comes back on the same port and database.
    await first.app.stop();
    await page.locator('[data-connection="reconnecting"]').waitFor();
    second = await startConsoleApp(undefined, {}, { database: first.database, dataDir: first.dataDir, port: first.port });
    await page.locator('[data-connection="connected"]').waitFor({ timeout: 30_000 });

    // A change after the restart reaches the page live, through the renewed subscriptions.
    await page.locator('button[data-action="stop"]').click();
    await page.getByTestId('workload-status').filter({ hasText: 'STOPPED' }).waitFor({ timeout: 30_000 });
    await page.locator('tr[data-event-type="statusChanged"]', { hasText: 'stopping -> stopped' }).first().waitFor({ timeout: 30_000 });
    const after = (await page.locator('tr[data-event-type] td.seq').allTextContents()).map(Number);
    expect(new Set(after).size).toBe(after.length);
    // Newest first, one by one down to 1: nothing missed while the API was away, nothing twice.
    expect(after).toEqual(Array.from({ length: after.length }, (_, i) => after.length - i));
    expect(after.length).toBeGreaterThan(before.length);
  }, 150_000);
});
