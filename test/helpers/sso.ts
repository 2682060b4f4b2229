import assert from 'node:assert/strict';
import { startEmbeddedIdp, type EmbeddedIdp, type EmbeddedIdpUser } from '../../src/demo-idp/server.js';
import { Browser, redirectedTo, type Page } from './browser.js';
import { startGateway, type TestGateway } from './gateway.js';
import { closedPort } from './services.js';

export const alice: EmbeddedIdpUser = { username: 'alice', password: 'alice-pw', email: 'alice@example.com', groups: ['admins', 'devs'] }; // secret-scan: allow
export const bob: EmbeddedIdpUser = { username: 'bob', password: 'bob-pw', email: 'bob@corp.example', groups: ['devs'] }; // secret-scan: allow

export interface SsoSetup {
  gw: TestGateway;
  idp: EmbeddedIdp & { url: string };
  stop(): Promise<void>;
}

/**
 * A real IdP (oidc-provider with login and consent forms) and a gateway with one OIDC
 * connector `corp` ("Corp SSO") for it, plus whatever else the test configures.
 */
export async function startSso(extra: Record<string, unknown> = {}, users: EmbeddedIdpUser[] = [alice, bob]): Promise<SsoSetup> {
  const port = await closedPort();
  const gateway = `http://127.0.0.1:${port}`;
  const idp = await startEmbeddedIdp({
    users,
    clients: [{ client_id: 'gatehouse', client_secret: 'corp-secret', redirect_uris: [`${gateway}/callback/corp`], post_logout_redirect_uris: [`${gateway}/login`] }], // secret-scan: allow
  });
  const corp = { type: 'oidc', id: 'corp', name: 'Corp SSO', issuer: idp.issuer, client_id: 'gatehouse', client_secret: 'corp-secret', scopes: ['openid', 'email', 'profile', 'groups'] }; // secret-scan: allow
  const gw = await startGateway({ connectors: [corp], ...extra }, { port });
  return {
    gw,
    idp,
    async stop() {
      await gw.stop();
      await idp.close();
    },
  };
}

/** Chooser → connector → IdP login form → consent → callback; returns the callback's response. */
export async function logIn(browser: Browser, gw: TestGateway, connectorName: string, user: { username: string; password: string }, returnTo?: string): Promise<Page> {
  const chooser = await browser.go(`${gw.url}/login${returnTo ? `?return_to=${encodeURIComponent(returnTo)}` : ''}`);
  assert.equal(chooser.status, 200);
  const link = new RegExp(`href="([^"]+)">${connectorName}<`).exec(chooser.body)?.[1];
  assert.ok(link, `chooser lists ${connectorName}:\n${chooser.body}`);
  const form = await browser.go(new URL(link.replaceAll('&amp;', '&'), gw.url).href);
  assert.match(form.body, /name="password"/, 'IdP login form');
  const consent = await browser.submit(form, 'login', { username: user.username, password: user.password });
  assert.match(consent.body, /Allow/, 'IdP consent form');
  const done = await browser.submit(consent, 'confirm', {}, `${gw.url}/callback/`);
  const callback = redirectedTo(done, `${gw.url}/callback/`);
  return browser.request(callback.href);
}

/** Policy used by CLI and kube tests: admins get platform-admins, devs get developers. */
export const kubePolicy = {
  roles: [
    { name: 'admin', kubernetes_groups: ['platform-admins'], audit: 'read' },
    { name: 'developer', kubernetes_groups: ['developers'] },
  ],
  mappings: [
    { match: { claim: 'groups', value: 'admins' }, roles: ['admin'] },
    { match: { claim: 'groups', value: 'devs' }, roles: ['developer'] },
  ],
};
