import { samlError } from '../errors.js';
import { NS, child, children, textOf } from '../xml.js';

/*
 * checkAudience enforces (saml-core 2.5.1.4, saml-profiles 4.1.4.2):
 *   - the assertion's Conditions hold at least one AudienceRestriction (a bearer assertion
 *     for the Web SSO profile must be audience-restricted);
 *   - every AudienceRestriction lists our SP entity id (several restrictions all apply).
 * samlify reads the audience but never compares it.
 */

export function checkAudience(assertion: Element, spEntityId: string): void {
  const conditions = child(assertion, NS.assertion, 'Conditions');
  const restrictions = conditions ? children(conditions, NS.assertion, 'AudienceRestriction') : [];
  if (restrictions.length === 0) throw mismatch('the assertion is not restricted to an audience');
  for (const restriction of restrictions) {
    const audiences = children(restriction, NS.assertion, 'Audience').map((a) => textOf(a));
    if (!audiences.includes(spEntityId)) throw mismatch('the assertion is meant for another service provider');
  }
}

const mismatch = (why: string) => samlError('saml_audience_mismatch', `The SAML response was refused: ${why}.`);
