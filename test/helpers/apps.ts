import assert from 'node:assert/strict';
import { HostBrowser, type HostPage } from './host-browser.js';
import { alice, bob, startSso, type SsoSetup } from './sso.js';

export { alice, bob };
export type AppsSetup = SsoSetup;

/**
 * A real IdP (oidc-provider with login and consent forms) and a gateway with roles `dev` (group
 * devs) and `sre` (group admins), plus the given apps. `extra` is merged into the config.
 */
export function startAppsGateway(apps: Record<string, unknown>[], extra: Record<string, unknown> = {}): Promise<AppsSetup> {
  return startSso({
    roles: [{ name: 'dev' }, { name: 'sre' }],
    mappings: [
      { match: { claim: 'groups', value: 'devs' }, roles: ['dev'] },
      { match: { claim: 'groups', value: 'admins' }, roles: ['sre'] },
    ],
    apps,
    ...extra,
  });
}

/**
 * Opens `url` in the browser; when that lands on the gateway's sign-in chooser, signs in through
 * the IdP's forms and follows the redirects back. Returns the final page.
 */
export async function openSignedIn(browser: HostBrowser, url: string, user: { username: string; password: string }, headers?: Record<string, string>): Promise<HostPage> {
  const first = await browser.go(url, { headers });
  if (!/id="connector-corp"/.test(first.body)) return first;
  const link = /href="([^"]+)">Corp SSO</.exec(first.body)?.[1];
  assert.ok(link, `chooser lists Corp SSO:\n${first.body}`);
  const form = await browser.go(new URL(link.replaceAll('&amp;', '&'), first.url).href);
  assert.match(form.body, /name="password"/, 'IdP login form');
  const consent = await browser.submit(form, 'login', { username: user.username, password: user.password });
  if (!/Allow/.test(consent.body)) return consent;
  return browser.submit(consent, 'confirm', {});
}

export { HostBrowser };
