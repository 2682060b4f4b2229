import { samlError } from '../errors.js';
import { NS, descendants, hasComment } from '../xml.js';

/*
 * checkNoCommentsInValues enforces that the values we take identity from, the NameID, every
 * AttributeValue and every Issuer, contain no XML comment. Canonicalization drops comments
 * before signing, so `admin@example.com<!---->.evil.test` is signed as one string but read by
 * a naive text reader as `admin@example.com` (CVE-2017-11427 and friends). We refuse such
 * values instead of guessing which reading the IdP meant.
 */

export function checkNoCommentsInValues(assertion: Element): void {
  for (const el of descendants(assertion)) {
    if (el.namespaceURI !== NS.assertion) continue;
    if (!['NameID', 'AttributeValue', 'Issuer', 'Audience'].includes(el.localName)) continue;
    if (hasComment(el)) {
      throw samlError('saml_comment_injection', `The SAML assertion has an XML comment inside ${el.localName}.`, { details: { element: el.localName } });
    }
  }
}
