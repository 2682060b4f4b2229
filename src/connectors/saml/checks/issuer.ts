import { samlError } from '../errors.js';
import { NS, attr, child, textOf } from '../xml.js';

/*
 * checkIssuer enforces:
 *   - the Assertion has an Issuer, and it equals the IdP's entityID from its metadata;
 *   - the Response's Issuer, when present (it is optional), equals it too;
 *   - an Issuer Format, when given, is the entity format (saml-core 8.3.6).
 */

const ENTITY = 'urn:oasis:names:tc:SAML:2.0:nameid-format:entity';

export function checkIssuer(options: { response: Element; assertion: Element; idpEntityId: string }): void {
  const assertionIssuer = child(options.assertion, NS.assertion, 'Issuer');
  if (!assertionIssuer) throw mismatch('the assertion names no issuer');
  for (const issuer of [assertionIssuer, child(options.response, NS.assertion, 'Issuer')]) {
    if (!issuer) continue;
    const format = attr(issuer, 'Format');
    if (format !== undefined && format !== ENTITY) throw mismatch('the issuer is not an entity id');
    if (textOf(issuer) !== options.idpEntityId) throw mismatch('the issuer is not the configured IdP');
  }
}

const mismatch = (why: string) => samlError('saml_issuer_mismatch', `The SAML response was refused: ${why}.`);
