/** Browser steps of a SAML login against the gateway: start (AuthnRequest), ACS POST, meta-refresh hop. */
import assert from 'node:assert/strict';
import { inflateRawSync } from 'node:zlib';
import { Browser, unescapeHtml, type Page } from './browser.js';

export interface StartedLogin {
  /** The IdP URL the gateway redirected to. */
  redirect: URL;
  requestId: string;
  relayState: string;
  authnRequest: string;
}

/** GET /login/:connector without following the redirect to the IdP. */
export async function startSamlLogin(browser: Browser, gatewayUrl: string, connector: string, returnTo?: string): Promise<StartedLogin> {
  const page = await browser.request(`${gatewayUrl}/login/${connector}${returnTo ? `?return_to=${encodeURIComponent(returnTo)}` : ''}`);
  assert.equal(page.status, 302, page.body);
  const redirect = new URL(page.location!);
  const authnRequest = inflateRawSync(Buffer.from(redirect.searchParams.get('SAMLRequest')!, 'base64')).toString('utf8');
  const requestId = /\bID="([^"]+)"/.exec(authnRequest)?.[1];
  assert.ok(requestId, authnRequest);
  return { redirect, requestId, relayState: redirect.searchParams.get('RelayState')!, authnRequest };
}

/** The URL a `<meta http-equiv="refresh">` page moves to. */
export function metaRefreshTarget(page: Page): string | undefined {
  const m = /<meta http-equiv="refresh" content="0;url=([^"]+)">/.exec(page.body);
  return m ? new URL(unescapeHtml(m[1]), page.url).href : undefined;
}

/** POST the response to the ACS as the IdP's auto-submitting form would, then take the same-site hop. */
export async function postToAcs(
  browser: Browser,
  acsUrl: string,
  fields: { SAMLResponse: string; RelayState?: string },
  init: { accept?: string } = {},
): Promise<{ acs: Page; complete?: Page }> {
  const form: Record<string, string> = { SAMLResponse: fields.SAMLResponse };
  if (fields.RelayState !== undefined) form.RelayState = fields.RelayState;
  const acs = await browser.request(acsUrl, { form });
  const next = metaRefreshTarget(acs);
  if (!next) return { acs };
  const complete = await browser.request(next, { headers: init.accept ? { accept: init.accept } : undefined });
  return { acs, complete };
}
