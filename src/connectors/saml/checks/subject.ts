import { samlError } from '../errors.js';
import { NS, attr, child, children } from '../xml.js';

/*
 * bearerConfirmations enforces that the Subject has at least one SubjectConfirmation with
 * Method bearer and a SubjectConfirmationData (saml-profiles 4.1.4.2). The checks on its
 * Recipient, NotOnOrAfter and InResponseTo live in destination.ts, validity.ts and
 * in-response-to.ts.
 */

const BEARER = 'urn:oasis:names:tc:SAML:2.0:cm:bearer';

export function bearerConfirmations(assertion: Element): Element[] {
  const subject = child(assertion, NS.assertion, 'Subject');
  const data = (subject ? children(subject, NS.assertion, 'SubjectConfirmation') : [])
    .filter((c) => attr(c, 'Method') === BEARER)
    .map((c) => child(c, NS.assertion, 'SubjectConfirmationData'))
    .filter((d): d is Element => d !== undefined);
  if (data.length === 0) throw samlError('saml_subject_unconfirmed', 'The SAML assertion has no bearer subject confirmation.');
  return data;
}
