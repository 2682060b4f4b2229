// Signing in as a person would, through the IdP's real login and consent forms (the embedded
// oidc-provider IdP, standalone or as the gateway's demo IdP).
import assert from 'node:assert/strict';
import type { TestGateway } from '../gateways/gateway.js';
import { redirectedTo, unescapeHtml, type Browser, type Page } from './browser.js';

interface Credentials {
  username: string;
  password: string;
}

/** The link of a connector's button on the gateway's sign-in chooser, by id (`corp`) or name (`Corp SSO`). */
function connectorLink(chooser: Page, connector: string): string | undefined {
  for (const [, id, href, name] of chooser.body.matchAll(/id="connector-([^"]+)" href="([^"]+)">([^<]*)</g)) {
    if (id === connector || unescapeHtml(name) === connector) return new URL(unescapeHtml(href), chooser.url).href;
  }
  return undefined;
}

/** Follows a connector's button on the sign-in chooser: returns the IdP's login page. */
export async function followConnector(browser: Browser, chooser: Page, connector: string): Promise<Page> {
  const link = connectorLink(chooser, connector);
  assert.ok(link, `chooser lists ${connector}:\n${chooser.body}`);
  return browser.go(link);
}

/**
 * On the IdP's login page, submits the person's username and password, then the consent form
 * when the IdP shows one, following the redirects back (up to a URL starting with `stopAt`, if
 * given). Returns the last page.
 */
export async function signInThroughIdp(browser: Browser, idpLogin: Page, user: Credentials, stopAt?: string): Promise<Page> {
  assert.match(idpLogin.body, /name="password"/, `IdP login form:\n${idpLogin.body}`);
  const consent = await browser.submit(idpLogin, 'login', { username: user.username, password: user.password }, stopAt);
  if (!/Allow/.test(consent.body)) return consent;
  return browser.submit(consent, 'confirm', {}, stopAt);
}

/**
 * Opens `url`; when that lands on the gateway's sign-in chooser, signs in through `connector`
 * (for a host app, through the app-cookie hand-off too). Returns the final page.
 */
export async function openSignedIn(
  browser: Browser,
  url: string,
  user: Credentials,
  options: { connector?: string; headers?: Record<string, string> } = {},
): Promise<Page> {
  const first = await browser.go(url, { headers: options.headers });
  if (!connectorLink(first, options.connector ?? 'corp')) return first;
  return signInThroughIdp(browser, await followConnector(browser, first, options.connector ?? 'corp'), user);
}

/**
 * Everything of a login up to (not including) the request to the gateway's callback, starting
 * at `startAt`'s chooser; the IdP returns to `publicUrl` (the replicas' shared URL). Returns the
 * callback URL.
 */
export async function reachCallback(
  browser: Browser,
  startAt: string,
  publicUrl: string,
  user: Credentials,
  options: { connector?: string; returnTo?: string } = {},
): Promise<URL> {
  const chooser = await browser.go(`${startAt}/login${options.returnTo ? `?return_to=${encodeURIComponent(options.returnTo)}` : ''}`);
  assert.equal(chooser.status, 200);
  const done = await signInThroughIdp(browser, await followConnector(browser, chooser, options.connector ?? 'Corp SSO'), user, `${publicUrl}/callback/`);
  return redirectedTo(done, `${publicUrl}/callback/`);
}

/** Logs in starting at one replica (`startAt`); the IdP returns to the shared public URL. Returns the callback's response. */
export async function logInVia(browser: Browser, startAt: string, publicUrl: string, user: Credentials): Promise<Page> {
  return browser.request((await reachCallback(browser, startAt, publicUrl, user)).href);
}

/** Chooser → connector → IdP login form → consent → callback; returns the callback's response. */
export async function logIn(browser: Browser, gw: TestGateway, connectorName: string, user: Credentials, returnTo?: string): Promise<Page> {
  return browser.request((await reachCallback(browser, gw.url, gw.url, user, { connector: connectorName, returnTo })).href);
}
