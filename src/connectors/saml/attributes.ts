import type { ExternalIdentity } from '../../core/types.js';
import { NS, attr, child, children, textOf } from './xml.js';

/** The subject and attributes of a verified assertion. */
export interface AssertionFacts {
  nameId: string;
  nameIdFormat?: string;
  sessionIndex?: string;
  /** By Name, every value as a string array (single-valued attributes too). */
  attributes: Record<string, string[]>;
  /** FriendlyName → Name. */
  friendlyNames: Record<string, string>;
}

const EMAIL_FORMAT = 'urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress';

export function readAssertion(assertion: Element): AssertionFacts {
  const subject = child(assertion, NS.assertion, 'Subject');
  const nameIdEl = subject && child(subject, NS.assertion, 'NameID');
  const nameId = textOf(nameIdEl) ?? '';
  const attributes: Record<string, string[]> = {};
  const friendlyNames: Record<string, string> = {};
  for (const statement of children(assertion, NS.assertion, 'AttributeStatement')) {
    for (const a of children(statement, NS.assertion, 'Attribute')) {
      const name = attr(a, 'Name');
      if (!name) continue;
      const values = children(a, NS.assertion, 'AttributeValue').map((v) => textOf(v) ?? '');
      attributes[name] = [...(attributes[name] ?? []), ...values];
      const friendly = attr(a, 'FriendlyName');
      if (friendly) friendlyNames[friendly] = name;
    }
  }
  const authn = child(assertion, NS.assertion, 'AuthnStatement');
  return { nameId, nameIdFormat: attr(nameIdEl, 'Format'), sessionIndex: attr(authn, 'SessionIndex'), attributes, friendlyNames };
}

/** An attribute by Name, else by FriendlyName. */
export function attributeValues(facts: AssertionFacts, key: string | undefined): string[] | undefined {
  if (!key) return undefined;
  return facts.attributes[key] ?? (facts.friendlyNames[key] ? facts.attributes[facts.friendlyNames[key]] : undefined);
}

/**
 * username, email and groups from the configured attributes (by name or friendly name), with the
 * NameID standing in for a missing username (and for the email when its format is emailAddress).
 * Group values are kept as sent, so Keycloak paths like `/ops/sre` stay paths.
 */
export function toIdentity(connector: string, facts: AssertionFacts, mapping: { username?: string; email: string; groups: string }): ExternalIdentity {
  const username = attributeValues(facts, mapping.username)?.[0] || facts.nameId;
  const email = attributeValues(facts, mapping.email)?.[0] || (facts.nameIdFormat === EMAIL_FORMAT ? facts.nameId : undefined);
  const claims: Record<string, unknown> = { ...facts.attributes };
  for (const [friendly, name] of Object.entries(facts.friendlyNames)) if (!(friendly in claims)) claims[friendly] = facts.attributes[name];
  claims.name_id = facts.nameId;
  if (facts.nameIdFormat) claims.name_id_format = facts.nameIdFormat;
  return {
    connector,
    subject: facts.nameId,
    username,
    email,
    groups: attributeValues(facts, mapping.groups) ?? [],
    claims,
  };
}
