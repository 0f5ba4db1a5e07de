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

  it('shows a refused action\'s typed error next to the action', async () => {
    const { page } = await browser.person();
    await signInAs(page, t.url, 'alice');
    await page.locator('tr[data-workload="shop"] a').click();
    await page.getByTestId('workload-status').filter({ hasText: 'RUNNING' }).waitFor();
    await page.locator('button[data-action="cancel"]').click();
    // No replacement is in progress: the API refuses with a typed InvalidTransitionError, shown beside the button.
    const refusal = page.locator('.action:has(button[data-action="cancel"]) .refusal');
    await refusal.waitFor();
    expect(await refusal.getAttribute('data-typename')).toBe('InvalidTransitionError');
    expect(await refusal.textContent()).toMatch(/INVALID_TRANSITION/);
  }, 60_000);

  it('shares the workload with bob, who sees it as an OBSERVER with the actions he may not take disabled and why', async () => {
    const alice = (await browser.person()).page;
    await signInAs(alice, t.url, 'alice');
    await alice.locator('tr[data-workload="shop"] a').click();
    await alice.getByRole('button', { name: 'Add', exact: true }).click();
    await alice.getByLabel('Subject', { exact: true }).last().fill('bob');
    await alice.getByLabel('Role').last().selectOption('OBSERVER');
    // The workload changes while the grant is being edited (its importance, from another
    // session): the page receives it live, and the edit not yet saved stays.
    const id = decodeURIComponent(new URL(alice.url()).hash.split('/')[2]!);
    const subjects = (await (await fetch(`${t.url}/console/development-subjects`)).json()) as { subjects: { name: string; token: string }[] };
    const token = subjects.subjects.find((s) => s.name === 'alice')!.token;
    const changed = await fetch(`${t.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ query: 'mutation($input: UpdateWorkloadInput!) { updateWorkload(input: $input) { __typename } }', variables: { input: { id, importance: 'MODERATE' } } }),
    });
    expect(await changed.json()).toEqual({ data: { updateWorkload: { __typename: 'UpdateWorkloadPayload' } } });
    await alice.locator('dd', { hasText: /^MODERATE$/ }).waitFor();
    expect(await alice.getByLabel('Subject', { exact: true }).last().inputValue()).toBe('bob');
    await alice.locator('button[data-action="save-sharing"]').click();
    await alice.getByText('saved').waitFor();

    // Some traffic for the statistics, through the endpoint named by the workload's global id.
    for (let i = 0; i < 20; i++) {
      const res = await fetch(`${t.url}/endpoints/workloads/${id}/hello`, { headers: { authorization: `Bearer ${token}`, ...(i % 5 === 0 && { 'x-sim-status': '500' }) } });
      expect(res.status).toBe(i % 5 === 0 ? 500 : 200);
    }

    const bob = (await browser.person()).page;
    await signInAs(bob, t.url, 'bob');
    await bob.locator('tr[data-workload="shop"] a').click();
    await bob.getByTestId('viewer-role').filter({ hasText: 'OBSERVER' }).waitFor();
    expect(await bob.locator('.refusal[role="alert"]').count()).toBe(0);
    const stop = bob.locator('button[data-action="stop"]');
    expect(await stop.isDisabled()).toBe(true);
    expect(await bob.locator('.action:has(button[data-action="stop"]) .disabled-reason').textContent()).toBe('needs EDITOR; you are OBSERVER');
    expect(await bob.locator('button[data-action="delete"]').isDisabled()).toBe(true);
    expect(await bob.locator('button[data-action="save-sharing"]').isDisabled()).toBe(true);
    // The statistics are written in batches: the page polls until they show.
    await bob.getByText(/^20 requests · 4 server errors/).waitFor({ timeout: 30_000 });
    await bob.locator('.recharts-surface').first().waitFor();
    await bob.screenshot({ path: path.join(SCREENSHOTS, 'workload-shared-observer.png'), fullPage: true });
  }, 60_000);
  it('replaces the workload\'s artifact and shows the replacement\'s steps as a timeline, live', async () => {
    const { page } = await browser.person();
    await signInAs(page, t.url, 'alice');
    await page.getByRole('link', { name: 'Artifacts' }).click();
    await page.getByLabel('Artifact name').fill('shop-next');
    await page.getByLabel('Image').fill('ghcr.io/example/hello:2.0');
    await page.getByRole('button', { name: 'Create draft' }).click();
    await page
      .locator('tr[data-artifact="shop-next"]')
      .waitFor({ timeout: 10_000 })
      .catch(async (err: unknown) => {
        await page.screenshot({ path: '/tmp/console-artifacts-fail.png', fullPage: true });
        throw new Error(`${String(err)}; refusals: ${(await page.locator('.refusal').allTextContents()).join(' | ')}`);
      });

    await page.getByRole('link', { name: 'Workloads' }).click();
    await page.locator('tr[data-workload="shop"] a').click();
    await page.getByTestId('workload-status').filter({ hasText: 'RUNNING' }).waitFor();
    await page.getByLabel('Replacement artifact').selectOption({ label: 'shop-next (draft) · ghcr.io/example/hello:2.0' });
    await page.getByLabel('Warm-up seconds').fill('3');
    await page.getByLabel('Keep old seconds').fill('2');
    await page.evaluate(() => {
      const seen: string[] = [];
      (window as unknown as { seenSteps: string[] }).seenSteps = seen;
      new MutationObserver(() => {
        const step = document.querySelector('ol.timeline .step.current')?.getAttribute('data-step');
        if (step && seen.at(-1) !== step) seen.push(step);
      }).observe(document.body, { subtree: true, childList: true, attributes: true });
    });
    await page.locator('button[data-action="replace"]').click();
    await page
      .locator('ol.timeline .step[data-step="WARMING"][data-state="current"]')
      .waitFor({ timeout: 30_000 })
      .catch(async (err: unknown) => {
        throw new Error(`${String(err)}; refusals: ${(await page.locator('.refusal').allTextContents()).join(' | ')}; steps: ${(await page.locator('[data-testid="replacement"]').allTextContents()).join(' | ')}`);
      });
    await page.screenshot({ path: path.join(SCREENSHOTS, 'workload-replacing.png'), fullPage: true });
    await page.locator('[data-testid="replacement"] [data-status="COMPLETED"]').waitFor({ timeout: 60_000 });
    const steps = await page.evaluate(() => (window as unknown as { seenSteps: string[] }).seenSteps);
    // Seen in order, as they happened; the page was never reloaded.
    expect(steps.indexOf('WARMING')).toBeGreaterThanOrEqual(0);
    expect(steps.indexOf('DRAINING')).toBeGreaterThan(steps.indexOf('WARMING'));
    expect(await page.locator('[data-proton-role="ACTIVE"] h3').textContent()).toContain('shop-next');
    await page.locator('tr[data-event-type]').first().waitFor();
  }, 120_000);

});
