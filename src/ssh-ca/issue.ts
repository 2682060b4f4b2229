import { requestsEndAt, type Access } from '../access/policy.js';
import { GatehouseError } from '../core/errors.js';
import type { ExternalIdentity } from '../core/types.js';
import type { SshCa } from './ca.js';
import type { Certificate } from './certs.js';
import { certExtensions, encodeIdentity, GATEWAY_ONLY_OPTION, IDENTITY_EXTENSION } from './identity.js';
import type { SshPublicKey } from './keys.js';

/** Clock skew allowance: certificates are valid from one minute ago. */
export const BACKDATE_S = 60;

/**
 * A person's user certificate: key id = the Gatehouse user, principals = every login their roles
 * allow, valid from a minute ago until the earliest of cert_ttl, the roles' max_session_ttl and
 * the session's expiry; extensions per role. Refuses when no login is allowed (an empty principal
 * list would mean "any principal" to OpenSSH).
 */
export async function issueUserCert(options: {
  ca: SshCa;
  identity: ExternalIdentity;
  access: Access;
  publicKey: SshPublicKey;
  certTtlMs: number;
  /** ms since epoch */
  sessionExpiresAt?: number;
  now?: number;
}): Promise<Certificate> {
  const { identity, access } = options;
  const now = options.now ?? Date.now();
  if (access.logins.length === 0) throw new GatehouseError('no_ssh_logins', 'Your roles allow no SSH login, so there is nothing to sign.', { status: 403 });
  const ends = [
    now + options.certTtlMs,
    options.sessionExpiresAt,
    access.maxSessionTtlMs === undefined ? undefined : now + access.maxSessionTtlMs,
    requestsEndAt(access),
  ];
  const validBefore = Math.floor(Math.min(...ends.filter((t): t is number => t !== undefined)) / 1000);
  if (validBefore <= Math.floor(now / 1000)) throw new GatehouseError('session_expired', 'The session has expired; sign in again.', { status: 401 });
  return options.ca.signUser({
    publicKey: options.publicKey,
    keyId: identity.username,
    principals: access.logins,
    validAfter: Math.floor(now / 1000) - BACKDATE_S,
    validBefore,
    criticalOptions: { [GATEWAY_ONLY_OPTION]: '' },
    extensions: { ...certExtensions(access), [IDENTITY_EXTENSION]: encodeIdentity(identity) },
  });
}
