import { samlError } from '../errors.js';
import { NS, attr, child, textOf } from '../xml.js';

/*
 * checkStatus enforces that the IdP reports top-level success
 * (urn:oasis:names:tc:SAML:2.0:status:Success). Anything else (AuthnFailed, RequestDenied,
 * NoPassive, ...) is the IdP refusing the login: `idp_error`, with the SAML status codes (top
 * and second level) in the audit event.
 */

const SUCCESS = 'urn:oasis:names:tc:SAML:2.0:status:Success';

export function checkStatus(response: Element): void {
  const status = child(response, NS.protocol, 'Status');
  const code = status && child(status, NS.protocol, 'StatusCode');
  const value = attr(code, 'Value');
  if (value === SUCCESS) return;
  const sub = code && attr(child(code, NS.protocol, 'StatusCode'), 'Value');
  const message = status && textOf(child(status, NS.protocol, 'StatusMessage'));
  throw samlError('idp_error', 'The identity provider refused the login.', {
    details: { saml_status: value ?? 'missing', saml_sub_status: sub, saml_status_message: message?.slice(0, 200) },
  });
}
