import { samlError } from '../errors.js';
import { NS, attr, child } from '../xml.js';

/*
 * checkValidity enforces the assertion's time window, each bound widened by the configured
 * clock skew (default 60 s):
 *   - Conditions/@NotBefore <= now + skew;
 *   - now - skew < Conditions/@NotOnOrAfter;
 *   - every bearer SubjectConfirmationData has a NotOnOrAfter (required by the Web SSO
 *     profile), and now - skew < it; a NotBefore there, if an IdP sends one, is checked too;
 *   - timestamps are xs:dateTime in UTC; anything unparsable is refused.
 * Returns the earliest expiry, which bounds how long the assertion id stays in the replay cache.
 */

const parse = (value: string, what: string): number => {
  const ms = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]00:00)$/.test(value) ? Date.parse(value) : NaN;
  if (Number.isNaN(ms)) throw samlError('saml_response_malformed', `The SAML assertion has an invalid ${what} time.`);
  return ms;
};

export function checkValidity(options: { assertion: Element; confirmations: Element[]; now: number; skewMs: number }): number {
  const { now, skewMs } = options;
  const conditions = child(options.assertion, NS.assertion, 'Conditions');
  const bounds: { notBefore?: string; notOnOrAfter?: string; what: string; required: boolean }[] = [
    { notBefore: attr(conditions, 'NotBefore'), notOnOrAfter: attr(conditions, 'NotOnOrAfter'), what: 'Conditions', required: false },
    ...options.confirmations.map((d) => ({
      notBefore: attr(d, 'NotBefore'),
      notOnOrAfter: attr(d, 'NotOnOrAfter'),
      what: 'SubjectConfirmationData',
      required: true,
    })),
  ];
  let expiry = Infinity;
  for (const b of bounds) {
    if (b.notBefore !== undefined && parse(b.notBefore, 'NotBefore') > now + skewMs) {
      throw samlError('saml_assertion_not_yet_valid', 'The SAML assertion is not valid yet; check the clocks of the IdP and the gateway.', {
        details: { field: `${b.what}/@NotBefore` },
      });
    }
    if (b.notOnOrAfter === undefined) {
      if (b.required) throw samlError('saml_subject_unconfirmed', 'The SAML subject confirmation has no expiry (NotOnOrAfter).');
      continue;
    }
    const end = parse(b.notOnOrAfter, 'NotOnOrAfter');
    if (now - skewMs >= end) {
      throw samlError('saml_assertion_expired', 'The SAML assertion has expired.', { details: { field: `${b.what}/@NotOnOrAfter` } });
    }
    expiry = Math.min(expiry, end);
  }
  return expiry;
}
