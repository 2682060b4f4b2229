import assert from 'node:assert/strict';
import type { HostBrowser, HostPage } from './host-browser.js';

/**
 * Like apps.ts's openSignedIn, for a gateway whose connector is the embedded demo IdP (`type: demo`,
 * id `demo`, served under the gateway's /demo-idp): opens `url`; when that lands on the sign-in
 * chooser, signs in through the demo IdP's login and consent forms and follows the redirects back
 * (for a host app, through the app-cookie hand-off). Returns the final page.
 */
export async function openSignedInDemo(browser: HostBrowser, url: string, user: { username: string; password: string }, connectorId = 'demo'): Promise<HostPage> {
  const first = await browser.go(url);
  const link = new RegExp(`id="connector-${connectorId}" href="([^"]+)"`).exec(first.body)?.[1];
  if (!link) return first;
  const form = await browser.go(new URL(link.replaceAll('&amp;', '&'), first.url).href);
  assert.match(form.body, /name="password"/, `demo IdP login form:\n${form.body}`);
  const consent = await browser.submit(form, 'login', { username: user.username, password: user.password });
  if (!/Allow/.test(consent.body)) return consent;
  return browser.submit(consent, 'confirm', {});
}
