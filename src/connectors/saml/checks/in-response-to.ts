import { samlError } from '../errors.js';
import { attr } from '../xml.js';

/*
 * checkInResponseTo binds a response to the AuthnRequest that started this login:
 *   - SP-initiated (we issued request id X, kept take-once with the login state): every
 *     InResponseTo present (on the Response and on each bearer SubjectConfirmationData) equals
 *     X, and at least one is present;
 *   - no request of ours (IdP-initiated): refused with `saml_unsolicited` unless the connector
 *     allows IdP-initiated login, and even then any InResponseTo is refused, since it answers
 *     a request this browser never made.
 */

export function checkInResponseTo(options: { response: Element; confirmations: Element[]; expectedRequestId?: string; allowUnsolicited: boolean }): void {
  const values = [attr(options.response, 'InResponseTo'), ...options.confirmations.map((d) => attr(d, 'InResponseTo'))].filter(
    (v): v is string => v !== undefined,
  );
  if (options.expectedRequestId === undefined) {
    if (!options.allowUnsolicited) {
      throw samlError('saml_unsolicited', 'This sign-in method does not accept IdP-initiated (unsolicited) SAML responses.');
    }
    if (values.length > 0) throw mismatch();
    return;
  }
  if (values.length === 0 || values.some((v) => v !== options.expectedRequestId)) throw mismatch();
}

const mismatch = () => samlError('saml_in_response_to_mismatch', 'The SAML response does not answer the sign-in request this browser started.');
