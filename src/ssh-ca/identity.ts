import type { Access } from '../access/index.js';
import { GatehouseError } from '../core/errors.js';
import type { ExternalIdentity } from '../core/types.js';
import type { ParsedCertificate } from './certs.js';

/**
 * What a Gatehouse user certificate says beyond OpenSSH's fields.
 *
 * - Critical option `gatehouse-only@gatehouse`: OpenSSH refuses certificates with critical options
 *   it does not know, so a person's certificate works only at the gateway (which records) and
 *   never directly at a node, although nodes trust the same user CA for the gateway's own
 *   short-lived upstream certificates.
 * - Extension `identity@gatehouse`: the upstream identity (connector, subject, username, email,
 *   groups), signed with the certificate, so the gateway resolves access from the current policy
 *   at every connection without a lookup.
 */
export const GATEWAY_ONLY_OPTION = 'gatehouse-only@gatehouse';
export const IDENTITY_EXTENSION = 'identity@gatehouse';

export function certExtensions(access: Pick<Access, 'portForwarding' | 'agentForwarding'>): Record<string, string> {
  const ext: Record<string, string> = { 'permit-pty': '' };
  if (access.portForwarding) ext['permit-port-forwarding'] = '';
  if (access.agentForwarding) ext['permit-agent-forwarding'] = '';
  return ext;
}

export function encodeIdentity(identity: ExternalIdentity): string {
  const { connector, subject, username, email, groups } = identity;
  return JSON.stringify({ c: connector, s: subject, u: username, e: email, g: groups });
}

/** The identity a Gatehouse certificate carries; throws `cert_invalid` for certificates without one. */
export function identityFromCert(cert: ParsedCertificate): ExternalIdentity {
  const raw = cert.extensions[IDENTITY_EXTENSION];
  if (raw === undefined || cert.criticalOptions[GATEWAY_ONLY_OPTION] === undefined)
    throw new GatehouseError('cert_invalid', 'This certificate was not issued to a person by Gatehouse.', { status: 401 });
  try {
    const v = JSON.parse(raw) as { c: string; s: string; u: string; e?: string; g: string[] };
    if (typeof v.u !== 'string' || v.u !== cert.keyId || !Array.isArray(v.g)) throw new Error('inconsistent');
    return { connector: String(v.c), subject: String(v.s), username: v.u, email: v.e, groups: v.g.map(String), claims: {} };
  } catch (err) {
    throw new GatehouseError('cert_invalid', 'The certificate identity is malformed.', { status: 401, cause: err });
  }
}
