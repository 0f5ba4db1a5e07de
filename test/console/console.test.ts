import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeWithBrowser } from '../support/backends.js';
import { launchBrowser, signInAs, startConsoleApp, type Browser, type ConsoleApp } from './support.js';

const SCREENSHOTS = path.resolve(import.meta.dirname, '../../docs/screenshots');

describeWithBrowser('the console, in a browser', () => {
  let t: ConsoleApp;
  let browser: Browser;
  beforeAll(async () => {
    t = await startConsoleApp();
    browser = await launchBrowser();
    await mkdir(SCREENSHOTS, { recursive: true });
  }, 180_000);
  afterAll(async () => {
    await browser?.close();
    await t?.stop();
  });

  it('signs in as a development subject, creates a workload and shows it reach RUNNING without a reload', async () => {
    const { page } = await browser.person();
    await page.goto(`${t.url}/`);
    await page.screenshot({ path: path.join(SCREENSHOTS, 'sign-in.png') });
    await signInAs(page, t.url, 'alice');
    await page.locator('[data-connection="connected"]').waitFor();

    await page.getByRole('link', { name: 'New workload' }).click();
    await page.getByLabel('Name').fill('shop');
    await page.getByLabel('Replicas').fill('2');
    // Every status the workload page shows, as it shows it; and every page load from here on.
    let loads = 0;
    page.on('load', () => (loads += 1));
    await page.evaluate(() => {
      const seen: string[] = [];
      (window as unknown as { seenStatuses: string[] }).seenStatuses = seen;
      new MutationObserver(() => {
        const text = document.querySelector('[data-testid="workload-status"]')?.textContent?.split(' ')[0];
        if (text && seen.at(-1) !== text) seen.push(text);
      }).observe(document.body, { subtree: true, childList: true, characterData: true });
    });
    await page.getByRole('button', { name: 'Create' }).click();
    await page.getByTestId('workload-status').filter({ hasText: 'RUNNING' }).waitFor({ timeout: 30_000 });
    const seen = await page.evaluate(() => (window as unknown as { seenStatuses: string[] }).seenStatuses);
    expect(seen[0], seen.join(' > ')).not.toBe('RUNNING');
    expect(seen.at(-1)).toBe('RUNNING');
    expect(loads).toBe(0);
    expect(await page.getByTestId('endpoint').textContent()).toMatch(/\/endpoints\/workloads\/[0-9a-f-]{36}\/$/);

    await page.getByRole('link', { name: 'Workloads' }).click();
    const row = page.locator('tr[data-workload="shop"]');
    await row.locator('[data-status="RUNNING"]').first().waitFor();
    await page.screenshot({ path: path.join(SCREENSHOTS, 'workloads.png') });
  }, 120_000);
});
