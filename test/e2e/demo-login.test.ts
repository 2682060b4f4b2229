// The first-run experience, end to end: `gatehouse serve` with no config starts the demo, and a real
// Chromium signs in as alice through the embedded IdP's login and consent forms, sees "My access",
// calls the API with its session cookie, signs out (through the IdP's end-session page) and lands back
// on the login chooser. The server is the real CLI in a child process; SIGTERM must stop it with exit 0.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';

import type { Page } from 'playwright-core';

import { launchChromium } from '../helpers/browsers/chromium.js';
import { startDemoCli } from '../helpers/gateways/demo-cli.js';

/** Where the lead looks at the home page (not committed). */
const SCREENSHOT = '/tmp/gatehouse-home.png';

/** `gatehouse serve --demo` as a user would run it, with its demo data in a temp dir. */
async function startDemoServer(t: TestContext) {
  const dataDir = mkdtempSync(join(tmpdir(), 'gatehouse-e2e-demo-'));
  t.after(() => rmSync(dataDir, { recursive: true, force: true }));
  return startDemoCli(t, { args: ['--demo'], env: { GATEHOUSE_DATA_DIR: dataDir } });
}

const text = async (page: Page, selector: string) => ((await page.locator(selector).textContent()) ?? '').trim();

test('demo mode: sign in with Chromium through the embedded IdP, see my access, call the API, sign out', { timeout: 120_000 }, async (t) => {
  const browser = await launchChromium(t);
  if (!browser) return;

  const server = await startDemoServer(t);
  const { url } = server;
  assert.equal(url, new URL(url).origin, 'the banner prints the public URL');

  const page = await browser.newPage();
  page.setDefaultTimeout(15_000);
  // CSP violations, failed subresources and script errors all show up here.
  const consoleErrors: string[] = [];
  page.on('console', (msg) => {
    if (msg.type() !== 'error') return;
    const where = new URL(page.url());
    const source = msg.location().url || 'inline';
    // The embedded IdP's own pages (oidc-provider) declare no icon, so Chromium asks for /favicon.ico.
    if (where.pathname.startsWith('/demo-idp/') && source === `${url}/favicon.ico`) return;
    consoleErrors.push(`${where.origin}${where.pathname}: ${msg.text()} (${source})`);
  });
  page.on('pageerror', (err) => consoleErrors.push(`${page.url()}: ${err.message}`));
  page.on('response', (res) => {
    if (res.status() >= 400 && !res.url().endsWith('/api/v1/whoami')) consoleErrors.push(`${res.status()} ${res.url()}`);
  });

  // Later steps build on earlier ones: after a failure they are skipped instead of piling up noise.
  let failed = false;
  const step = (name: string, fn: () => Promise<void>) =>
    t.test(name, async (st) => {
      if (failed) return st.skip('an earlier step failed');
      try {
        await fn();
      } catch (err) {
        failed = true;
        throw new Error(`${(err as Error).message}\n(page: ${page.url()})\n${server.output()}`, { cause: err });
      }
    });

  await step('/ redirects a stranger to the login chooser, which shows the demo banner', async () => {
    const res = await page.goto(`${url}/`);
    assert.equal(res?.status(), 200);
    assert.equal(page.url(), `${url}/login`);
    assert.equal(await text(page, '.demo-banner'), 'Demo mode: not for production');
    assert.equal(await text(page, 'h1'), 'Sign in');
    assert.equal(await text(page, '#connector-demo'), 'Demo IdP');
  });

  await step('the Demo IdP button leads to the IdP login form; alice signs in and allows access', async () => {
    await page.click('#connector-demo');
    await page.waitForURL(`${url}/demo-idp/interaction/**`);
    assert.equal(await text(page, 'h1'), 'Sign in');
    await page.fill('#username', 'alice');
    await page.fill('#password', server.alicePassword);
    await page.getByRole('button', { name: 'Sign in' }).click();

    await page.waitForURL(`${url}/demo-idp/interaction/**`);
    await page.getByRole('heading', { name: 'Authorize access' }).waitFor();
    await page.getByRole('button', { name: 'Allow' }).click();
    await page.waitForURL(`${url}/`);
  });

  await step('"My access" shows alice, her email, groups and connector, and a gateway token', async () => {
    assert.equal(await page.title(), 'My access · Gatehouse');
    assert.equal(await text(page, 'h1'), 'My access');
    assert.equal(await text(page, '#username'), 'alice');
    assert.equal(await text(page, '#email'), 'alice@demo.gatehouse.test');
    assert.deepEqual(await page.locator('#groups .tag').allTextContents(), ['admins', 'devs']);
    assert.equal(await text(page, '#connector'), 'demo');
    assert.equal(await text(page, 'header .who'), 'alice');
    assert.equal(await text(page, '.demo-banner'), 'Demo mode: not for production');

    const claims = JSON.parse(await text(page, '#token-claims')) as Record<string, unknown>;
    assert.equal(claims.iss, url);
    assert.equal(claims.aud, 'gatehouse');
    assert.equal(claims.preferred_username, 'alice');
    assert.equal(claims.email, 'alice@demo.gatehouse.test');
    assert.deepEqual(claims.groups, ['admins', 'devs']);
    assert.equal(claims.connector, 'demo');
    assert.equal(typeof claims.exp, 'number');

    await page.screenshot({ path: SCREENSHOT, fullPage: true });
  });

  await step('GET /api/v1/whoami with the browser session cookie answers alice', async () => {
    const res = await page.request.get(`${url}/api/v1/whoami`);
    assert.equal(res.status(), 200);
    const body = (await res.json()) as Record<string, unknown>;
    assert.equal(body.username, 'alice');
    assert.equal(body.email, 'alice@demo.gatehouse.test');
    assert.deepEqual(body.groups, ['admins', 'devs']);
    assert.equal(body.connector, 'demo');
  });

  await step('"Sign out" in the header ends the session (and the IdP session) and lands on the login chooser', async () => {
    await page.getByRole('button', { name: 'Sign out' }).click();
    // RP-initiated logout: the demo IdP asks for confirmation, then sends the browser back to /login.
    await page.waitForURL(`${url}/demo-idp/**`);
    await page.getByRole('button', { name: 'Yes, sign me out' }).click();
    await page.waitForURL(`${url}/login**`);
    assert.equal(new URL(page.url()).pathname, '/login');
    assert.equal(await text(page, 'h1'), 'Sign in');
    assert.equal(await page.locator('#connector-demo').count(), 1);

    const res = await page.request.get(`${url}/api/v1/whoami`);
    assert.equal(res.status(), 401);
    assert.equal(((await res.json()) as { error: string }).error, 'unauthenticated');

    // Signing in again must ask for the password: the upstream session is gone too.
    await page.click('#connector-demo');
    await page.waitForURL(`${url}/demo-idp/interaction/**`);
    assert.equal(await page.locator('#password').count(), 1);
  });

  await step('no page logged errors (CSP violations, failed assets, script errors)', async () => {
    assert.deepEqual(consoleErrors, []);
  });

  await step('SIGTERM shuts the server down gracefully with exit code 0 (with the browser still connected)', async () => {
    server.child.kill('SIGTERM');
    const { code, signal } = await server.exited;
    assert.equal(signal, null, `killed by ${signal}`);
    assert.equal(code, 0);
    assert.match(server.output(), /"msg":"shutting down"/);
  });
});
