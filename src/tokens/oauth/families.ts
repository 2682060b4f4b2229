import type { Clock } from '../../core/clock.js';
import { randomId, sha256Hex } from '../../core/ids.js';
import type { ExternalIdentity } from '../../core/types.js';
import { getJson, setJson } from '../../store/store.js';
import { OAuthError } from './errors.js';
import type { OAuthServerOptions } from './options.js';

/** Our own prefix, so secret scanners never take our refresh tokens for GitHub's (`ghr_`). */
export const REFRESH_TOKEN_PREFIX = 'gatehouse_rt_';

/** One CLI login: every refresh token it is ever rotated to belongs to this family. */
export interface Family {
  id: string;
  identity: ExternalIdentity;
  clientId: string;
  scope: string;
  createdAt: number;
  expiresAt: number;
  revoked?: boolean;
}

const k = {
  family: (id: string) => `oauth:family:${id}`,
  refresh: (token: string) => `oauth:rt:${sha256Hex(token)}`,
  spent: (token: string) => `oauth:rt-spent:${sha256Hex(token)}`,
  /** The families started from one upstream login (the session's upstream grant), for back-channel logout. */
  bornOf: (grant: string) => `oauth:families-of-grant:${grant}`,
};
/** Families kept per upstream login: more CLI logins than this from one browser session drop the oldest from the index. */
const MAX_BORN_OF = 50;

/** Families and their refresh tokens, live and spent (a spent one coming back is reuse). */
export interface FamilyStore {
  /** Starts a family for a person who just authorised the CLI, with its first refresh token. */
  start(identity: ExternalIdentity, clientId: string, scope: string): Promise<{ family: Family; refreshToken: string }>;
  get(id: string): Promise<Family | null>;
  newRefreshToken(family: Family): Promise<string>;
  /** Takes a live refresh token (once): its family's id, or null. */
  redeem(token: string): Promise<string | null>;
  /** Remembers a redeemed token until its family expires, so its reuse is recognised. */
  markSpent(token: string, family: Family): Promise<void>;
  /** The family of a spent refresh token, or null. */
  spentFamily(token: string): Promise<string | null>;
  /** The family of a live or spent refresh token, or null. */
  familyOf(token: string): Promise<string | null>;
  /** Forgets a live refresh token. */
  drop(token: string): Promise<void>;
  /** Marks the family revoked and records it, so its live access tokens are refused too. */
  revoke(id: string): Promise<Family | null>;
  /** Revokes every family started from this upstream login (identity.upstreamGrant); returns those that existed. */
  revokeBornOf(upstreamGrant: string): Promise<Family[]>;
}

export function createFamilyStore(options: OAuthServerOptions, clock: Clock, ttlSeconds: (until: number) => number): FamilyStore {
  const { store } = options;
  const families: FamilyStore = {
    async start(identity, clientId, scope) {
      const api = options.entitle(identity, options.gatewayAudience);
      if (!api.allowed) throw new OAuthError('access_denied', `${identity.username} has no role on this gateway.`, api.reason ?? 'no_roles', identity.username);
      const now = clock.now();
      const lifetime = Math.min(options.refreshTtlMs, api.maxTtlMs ?? Infinity);
      const family: Family = { id: randomId(16), identity, clientId, scope, createdAt: now, expiresAt: now + lifetime };
      await setJson(store, k.family(family.id), family, ttlSeconds(family.expiresAt));
      if (identity.upstreamGrant) {
        const born = (await getJson<string[]>(store, k.bornOf(identity.upstreamGrant))) ?? [];
        await setJson(store, k.bornOf(identity.upstreamGrant), [...born.slice(-(MAX_BORN_OF - 1)), family.id], Math.ceil(options.refreshTtlMs / 1000));
      }
      return { family, refreshToken: await families.newRefreshToken(family) };
    },
    get: (id) => getJson<Family>(store, k.family(id)),
    async newRefreshToken(family) {
      const token = `${REFRESH_TOKEN_PREFIX}${randomId(32)}`;
      await store.set(k.refresh(token), family.id, ttlSeconds(family.expiresAt));
      return token;
    },
    redeem: (token) => store.take(k.refresh(token)),
    markSpent: (token, family) => store.set(k.spent(token), family.id, ttlSeconds(family.expiresAt)),
    spentFamily: (token) => store.get(k.spent(token)),
    familyOf: async (token) => (await store.get(k.refresh(token))) ?? (await store.get(k.spent(token))),
    drop: (token) => store.delete(k.refresh(token)),
    async revoke(id) {
      const family = await getJson<Family>(store, k.family(id));
      if (family) await setJson(store, k.family(id), { ...family, revoked: true }, ttlSeconds(family.expiresAt));
      await options.revocations.revokeFamily(id);
      return family;
    },
    async revokeBornOf(upstreamGrant) {
      const ids = (await getJson<string[]>(store, k.bornOf(upstreamGrant))) ?? [];
      const revoked: Family[] = [];
      for (const id of ids) {
        const family = await families.revoke(id);
        if (family) revoked.push(family);
      }
      await store.delete(k.bornOf(upstreamGrant));
      return revoked;
    },
  };
  return families;
}
