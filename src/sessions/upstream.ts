import { systemClock, type Clock } from '../core/clock.js';
import { isGatehouseError } from '../core/errors.js';
import { randomId } from '../core/ids.js';
import type { ExternalIdentity } from '../core/types.js';
import { getJson, setJson, type Store } from '../store/store.js';

/**
 * Upstream grants: what lets Gatehouse ask the IdP again about a person after their login.
 *
 * - One record per gateway session whose login came with an IdP refresh token, in the store only:
 *   the refresh token (never sent to any client, never logged), the identity the IdP last returned,
 *   when it was asked, and the session born of that login. The identity carries the record's id
 *   (`upstreamGrant`), so CLI logins made from that session find it too.
 * - check(): asks the IdP again (the connector's refresh) when its last answer is older than
 *   `maxAgeMs` (0: always), keeps the refresh token it rotates to, and returns the identity as it
 *   is now (groups and claims as the IdP sends them today).
 * - An IdP that refuses (a GatehouseError below 500: `upstream_revoked`, or a login rule such as
 *   `email_not_verified`) revokes the grant for good: every later check answers `revoked` without
 *   asking again.
 * - An IdP that cannot be asked (`idp_unavailable`, a timeout) leaves the last answer standing
 *   (logged): an IdP outage does not sign everyone out; the next check asks again.
 */
export type UpstreamRefresh = (previous: ExternalIdentity, refreshToken: string) => Promise<{ identity: ExternalIdentity; refreshToken: string }>;

export type UpstreamCheck =
  | { status: 'current'; identity: ExternalIdentity }
  /** `first`: this check is the one that found out (earlier checks answered `current`). */
  | { status: 'revoked'; reason: string; message: string; sessionId: string; identity: ExternalIdentity; first: boolean };

export interface UpstreamGrants {
  /** Keeps a login's refresh token for the session `sessionId`; returns the identity to store, carrying the grant's id. */
  save(identity: ExternalIdentity, refreshToken: string, sessionId: string): Promise<ExternalIdentity>;
  /** The identity as the IdP sees it now (asked when the last answer is older than `maxAgeMs`), or why it no longer counts. */
  check(identity: ExternalIdentity, maxAgeMs: number): Promise<UpstreamCheck>;
  /** Revokes a grant for good (the IdP said the login ended: back-channel logout); later checks answer `revoked`. */
  revoke(id: string, reason: string, message: string): Promise<void>;
}

interface GrantRecord {
  refreshToken: string;
  identity: ExternalIdentity;
  sessionId: string;
  checkedAt: number;
  expiresAt: number;
  revoked?: { at: number; reason: string; message: string };
}

const key = (id: string) => `upstream:grant:${id}`;
const GRANT_ID = /^[A-Za-z0-9_-]{22}$/;

export function createUpstreamGrants(options: {
  store: Store;
  refresh: UpstreamRefresh;
  /** How long a grant is kept after its last answer: the longest a session or a CLI login made from it may live. */
  ttlMs: number;
  clock?: Clock;
  logger?: { warn(obj: object, msg: string): void };
}): UpstreamGrants {
  const clock = options.clock ?? systemClock;
  const ttlSeconds = (record: GrantRecord) => Math.max(1, Math.ceil((record.expiresAt - clock.now()) / 1000));
  const write = (id: string, record: GrantRecord) => setJson(options.store, key(id), record, ttlSeconds(record));

  return {
    async save(identity, refreshToken, sessionId) {
      const id = randomId(16);
      const now = clock.now();
      const stored = { ...identity, upstreamGrant: id };
      await write(id, { refreshToken, identity: stored, sessionId, checkedAt: now, expiresAt: now + options.ttlMs });
      return stored;
    },

    async check(identity, maxAgeMs) {
      const id = identity.upstreamGrant;
      if (!id) return { status: 'current', identity };
      const record = GRANT_ID.test(id) ? await getJson<GrantRecord>(options.store, key(id)) : null;
      // Gone (past its lifetime, or never ours): nothing left to ask the IdP with.
      if (!record)
        return {
          status: 'revoked',
          reason: 'upstream_revoked',
          message: 'the login with the identity provider has ended',
          sessionId: '',
          identity,
          first: false,
        };
      if (record.revoked) {
        const { reason, message } = record.revoked;
        return { status: 'revoked', reason, message, sessionId: record.sessionId, identity: record.identity, first: false };
      }
      const now = clock.now();
      if (now - record.checkedAt < maxAgeMs) return { status: 'current', identity: record.identity };
      try {
        const fresh = await options.refresh(record.identity, record.refreshToken);
        const next = { ...fresh.identity, upstreamGrant: id };
        // Kept while in use: a CLI login started late in a session outlives the session's first ttl.
        await write(id, {
          ...record,
          refreshToken: fresh.refreshToken,
          identity: next,
          checkedAt: now,
          expiresAt: Math.max(record.expiresAt, now + options.ttlMs),
        });
        return { status: 'current', identity: next };
      } catch (err) {
        if (!isGatehouseError(err) || err.status >= 500) {
          options.logger?.warn(
            { err: err instanceof Error ? err.message : String(err), connector: record.identity.connector, user: record.identity.username },
            'could not re-check a login with its identity provider; the last answer stands',
          );
          return { status: 'current', identity: record.identity };
        }
        const revoked = { at: now, reason: err.code, message: err.message };
        await write(id, { ...record, refreshToken: '', revoked });
        return { status: 'revoked', reason: err.code, message: err.message, sessionId: record.sessionId, identity: record.identity, first: true };
      }
    },

    async revoke(id, reason, message) {
      const record = GRANT_ID.test(id) ? await getJson<GrantRecord>(options.store, key(id)) : null;
      if (!record || record.revoked) return;
      await write(id, { ...record, refreshToken: '', revoked: { at: clock.now(), reason, message } });
    },
  };
}
