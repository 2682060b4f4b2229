import { existsSync } from 'node:fs';
import type { TestContext } from 'node:test';
import { chromium, type Browser, type Page } from 'playwright-core';
import { skipOrFail } from '../peers/services.js';

/** Debian's chromium, driven headless by playwright-core (no downloaded browser). */
export const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** Launches headless Chromium, closed after the test; undefined (a skip, or a failure under CI) when it is not installed. */
export async function launchChromium(t: TestContext): Promise<Browser | undefined> {
  if (!existsSync(CHROMIUM)) {
    skipOrFail(t, `${CHROMIUM} is not installed (Debian package chromium)`);
    return undefined;
  }
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  t.after(() => browser.close());
  return browser;
}

/**
 * From the gateway's login page (where a signed-out page was sent), signs in through the IdP's
 * real forms and waits until the gateway has sent the page back to `backTo`. The IdP is the
 * embedded demo IdP unless `idp` names another connector and the IdP's issuer.
 */
export async function signInWithIdp(
  page: Page,
  gatewayUrl: string,
  user: { username: string; password: string },
  backTo: string,
  idp: { connector: string; issuer: string } = { connector: 'demo', issuer: `${gatewayUrl}/demo-idp` },
): Promise<void> {
  await page.waitForURL(`${gatewayUrl}/login**`);
  await page.click(`#connector-${idp.connector}`);
  await page.waitForURL(`${idp.issuer}/interaction/**`);
  await page.fill('#username', user.username);
  await page.fill('#password', user.password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('button', { name: 'Allow' }).click();
  await page.waitForURL(backTo);
}
