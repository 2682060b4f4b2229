import assert from 'node:assert/strict';
import { startEmbeddedIdp, type EmbeddedIdp } from '../../src/connectors/embedded-idp.js';
import { startGateway, type TestGateway } from './gateway.js';
import { HostBrowser, type HostPage } from './host-browser.js';
import { closedPort } from './services.js';

export const alice = { username: 'alice', password: 'alice-pw', email: 'alice@example.com', groups: ['admins', 'devs'] }; // secret-scan: allow
export const bob = { username: 'bob', password: 'bob-pw', email: 'bob@corp.example', groups: ['devs'] }; // secret-scan: allow

export interface AppsSetup {
  gw: TestGateway;
  idp: EmbeddedIdp;
  stop(): Promise<void>;
}

/**
 * A real IdP (oidc-provider with login and consent forms) and a gateway with roles `dev` (group
 * devs) and `sre` (group admins), plus the given apps. `extra` is merged into the config.
 */
export async function startAppsGateway(apps: Record<string, unknown>[], extra: Record<string, unknown> = {}): Promise<AppsSetup> {
  const port = await closedPort();
  const gateway = `http://127.0.0.1:${port}`;
  const idp = await startEmbeddedIdp({
    users: [alice, bob],
    clients: [{ client_id: 'gatehouse', client_secret: 'secret-corp', redirect_uris: [`${gateway}/callback/corp`], post_logout_redirect_uris: [`${gateway}/login`] }],
    title: 'Corp IdP',
  });
  const gw = await startGateway(
    {
      connectors: [{ type: 'oidc', id: 'corp', name: 'Corp SSO', issuer: idp.issuer, client_id: 'gatehouse', client_secret: 'secret-corp', scopes: ['openid', 'email', 'profile', 'groups'] }],
      roles: [{ name: 'dev' }, { name: 'sre' }],
      mappings: [
        { match: { claim: 'groups', value: 'devs' }, roles: ['dev'] },
        { match: { claim: 'groups', value: 'admins' }, roles: ['sre'] },
      ],
      apps,
      ...extra,
    },
    { port },
  );
  return {
    gw,
    idp,
    async stop() {
      await gw.stop();
      await idp.close();
    },
  };
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
