import { systemClock, type Clock } from '../core/clock.js';
import { randomId, sha256Hex } from '../core/ids.js';
import type { ExternalIdentity, Session } from '../core/types.js';
import { getJson, setJson, type Store } from '../store/store.js';
import { subscribeUntilClosed, type Subscription } from '../store/subscription.js';
import type { UpstreamCheck, UpstreamGrants } from './upstream.js';

/** A session's end, by its sessionRef: `expired` only when this replica found it past its time. */
export interface SessionEnd {
  ref: string;
  reason: 'signed_out' | 'expired';
}

/** The IdP refused a login when asked again: its session ended (and, `via: refresh`, a CLI login is refused). */
export interface UpstreamRevoked {
  identity: ExternalIdentity;
  /** The ended session's sessionRef, when it was still there. */
  sessionRef?: string;
  /** The stable code (`upstream_revoked`, or the login rule that failed) and the IdP's words. */
  reason: string;
  message: string;
  via: 'session' | 'refresh';
}

/** Which sessions an IdP's back-channel logout ends: those of its session `sid`, or (with only `sub`) every one of that person's. */
export interface UpstreamLogoutTarget {
  connector: string;
  sid?: string;
  sub?: string;
}

/** A login the IdP ended: its session (identity present when it was still live) and its upstream grant, which CLI logins made from it share. */
export interface EndedLogin {
  sessionRef: string;
  identity?: ExternalIdentity;
  upstreamGrant?: string;
}

/** What a CLI or cluster token refresh learns from the person's IdP. */
export type UpstreamRecheck = { identity: ExternalIdentity } | { revoked: { reason: string; message: string } };

export interface SessionManager {
  /**
   * A fresh session with a new random id (never reuses a pre-login id). An upstream refresh
   * token is kept server-side (./upstream.ts) so the person can be re-checked with their IdP.
   */
  create(
    identity: ExternalIdentity,
    extras?: { upstreamIdToken?: string; upstreamLogout?: Record<string, string>; upstreamRefreshToken?: string },
  ): Promise<Session>;
  /**
   * The live session, or null when unknown, idle too long, or past its absolute expiry, or when
   * its IdP refused the login at a re-check (at most every UPSTREAM_RECHECK_MS, which also brings
   * the IdP's current groups into the session).
   */
  get(id: string): Promise<Session | null>;
  /**
   * The person as their IdP sees them now, asked at once (a CLI or cluster token refresh). When
   * the IdP refuses, the session born of that login ends too. Identities whose login brought no
   * refresh token come back as they are.
   */
  recheck(identity: ExternalIdentity): Promise<UpstreamRecheck>;
  /** Ends a session, here and (announced through the store) on every replica. */
  destroy(id: string): Promise<void>;
  /**
   * The IdP ended a login (back-channel logout): ends every session the target names (on every
   * replica, as destroy) and revokes their upstream grants for good, so CLI logins made from them
   * can no longer refresh. Logins whose session already ended still have their grant revoked.
   */
  endByUpstream(target: UpstreamLogoutTarget, why: { reason: string; message: string }): Promise<EndedLogin[]>;
  /**
   * Calls `listener` for each session that ends: destroyed here or on another replica, or found
   * expired here. One end may be heard twice (here and as the store's echo): listeners must be
   * idempotent. Returns the unsubscribe.
   */
  onEnded(listener: (end: SessionEnd) => void): () => Promise<void>;
  /** Whether ends announced by other replicas are being received (only while someone listens). */
  listening(): boolean;
}

const key = (id: string) => `session:${id}`;
/** Refresh lastSeenAt at most this often, so reads do not all turn into writes. */
const TOUCH_INTERVAL_MS = 60_000;
/** How often a browser session asks its IdP again whether the person still exists, and their groups. */
export const UPSTREAM_RECHECK_MS = 60_000;

/** What the store keeps: the session, and when its IdP was last asked. */
type StoredSession = Session & { upstreamCheckedAt?: number };

/** The id audit events and logs carry: a digest, since the session id itself is a bearer secret. */
export const sessionRef = (id: string): string => sha256Hex(id).slice(0, 24);

/** Sessions by their IdP's session id and by person (connector + sub), for back-channel logout. */
const upstreamKey = (connector: string, kind: 'sid' | 'sub', value: string) => `sessions:upstream-${kind}:${connector}:${sha256Hex(value)}`;
/** An index entry: the session id, and the upstream grant its login made. */
type IndexEntry = { s: string; g?: string };
/** Entries kept per index: a person with more live logins than this loses the oldest from the index. */
const MAX_INDEXED = 50;

/** The store channel on which a session's end (its sessionRef) is announced to every replica. */
const SESSION_ENDED_CHANNEL = 'sessions:ended';

export function createSessionManager(options: {
  store: Store;
  idleTtlMs: number;
  absoluteTtlMs: number;
  clock?: Clock;
  logger?: { warn(obj: object, msg: string): void };
  /** Re-checks people with their IdP; without it an identity stays as it was at login. */
  upstream?: UpstreamGrants;
  /** Hears of every session the IdP ended (the caller audits it). */
  onUpstreamRevoked?(event: UpstreamRevoked): Promise<void>;
}): SessionManager {
  const clock = options.clock ?? systemClock;
  const ttlSeconds = (s: Session) => Math.max(1, Math.ceil(Math.min(s.lastSeenAt + options.idleTtlMs, s.expiresAt) / 1000 - clock.now() / 1000));

  const listeners = new Set<(end: SessionEnd) => void>();
  // Held only while someone listens, so a manager nobody watches opens no store subscription.
  let subscription: Subscription | undefined;
  const notify = (end: SessionEnd) => {
    for (const listener of [...listeners]) listener(end);
  };

  /** Ends the session the IdP refused, and tells the listener (once: when found out, or when a session was still there). */
  const endRevoked = async (checked: Extract<UpstreamCheck, { status: 'revoked' }>, via: UpstreamRevoked['via']) => {
    const live = checked.sessionId ? await getJson<Session>(options.store, key(checked.sessionId)) : null;
    if (live) await manager.destroy(checked.sessionId);
    if (!live && !checked.first) return;
    const { identity, reason, message } = checked;
    await options.onUpstreamRevoked?.({ identity, reason, message, via, sessionRef: live ? sessionRef(checked.sessionId) : undefined });
  };

  const indexTtlSeconds = Math.ceil(options.absoluteTtlMs / 1000);
  /**
   * Adds a new session to its person's and IdP session's indexes. Read-modify-write: two logins of
   * one person in the same instant may keep only one of the two in the `sub` index.
   */
  const indexUpstream = async (session: StoredSession) => {
    const { connector, subject, upstreamGrant } = session.identity;
    const entry: IndexEntry = { s: session.id, ...(upstreamGrant ? { g: upstreamGrant } : {}) };
    const sid = session.upstreamLogout?.sid;
    const keys = [subject ? upstreamKey(connector, 'sub', subject) : undefined, sid ? upstreamKey(connector, 'sid', sid) : undefined];
    for (const indexKey of keys) {
      if (!indexKey) continue;
      const entries = (await getJson<IndexEntry[]>(options.store, indexKey)) ?? [];
      await setJson(options.store, indexKey, [...entries.slice(-(MAX_INDEXED - 1)), entry], indexTtlSeconds);
    }
  };

  const manager: SessionManager = {
    async create(identity, extras = {}) {
      const now = clock.now();
      const id = randomId(32);
      const upstream = extras.upstreamRefreshToken && options.upstream;
      const session: StoredSession = {
        id,
        identity: upstream ? await upstream.save(identity, extras.upstreamRefreshToken!, id) : identity,
        createdAt: now,
        lastSeenAt: now,
        expiresAt: now + options.absoluteTtlMs,
        upstreamIdToken: extras.upstreamIdToken,
        upstreamLogout: extras.upstreamLogout,
        ...(upstream ? { upstreamCheckedAt: now } : {}),
      };
      await setJson(options.store, key(session.id), session, ttlSeconds(session));
      await indexUpstream(session);
      return session;
    },
    async get(id) {
      if (!/^[A-Za-z0-9_-]{43}$/.test(id)) return null;
      const session = await getJson<StoredSession>(options.store, key(id));
      if (!session) return null;
      const now = clock.now();
      if (now >= session.expiresAt || now >= session.lastSeenAt + options.idleTtlMs) {
        await options.store.delete(key(id));
        // Not announced: every replica reads the same deadlines (and the store drops the record at them).
        notify({ ref: sessionRef(id), reason: 'expired' });
        return null;
      }
      let changed = now - session.lastSeenAt >= TOUCH_INTERVAL_MS;
      if (options.upstream && session.identity.upstreamGrant && now - (session.upstreamCheckedAt ?? session.createdAt) >= UPSTREAM_RECHECK_MS) {
        const checked = await options.upstream.check(session.identity, UPSTREAM_RECHECK_MS);
        if (checked.status === 'revoked') {
          await endRevoked(checked, 'session');
          return null;
        }
        session.identity = checked.identity;
        session.upstreamCheckedAt = now;
        changed = true;
      }
      if (changed) {
        session.lastSeenAt = now;
        await setJson(options.store, key(id), session, ttlSeconds(session));
      }
      return session;
    },
    async recheck(identity) {
      if (!options.upstream || !identity.upstreamGrant) return { identity };
      const checked = await options.upstream.check(identity, 0);
      if (checked.status === 'current') return { identity: checked.identity };
      await endRevoked(checked, 'refresh');
      return { revoked: { reason: checked.reason, message: checked.message } };
    },
    async destroy(id) {
      await options.store.delete(key(id));
      const ref = sessionRef(id);
      notify({ ref, reason: 'signed_out' });
      await options.store
        .publish(SESSION_ENDED_CHANNEL, ref)
        .catch((err: Error) => options.logger?.warn({ err: err.message }, 'could not announce a session end to other replicas'));
    },
    async endByUpstream(target, why) {
      const value = target.sid ?? target.sub;
      if (!value) return [];
      const indexKey = upstreamKey(target.connector, target.sid ? 'sid' : 'sub', value);
      const entries = (await getJson<IndexEntry[]>(options.store, indexKey)) ?? [];
      const ended: EndedLogin[] = [];
      const kept: IndexEntry[] = [];
      for (const entry of entries) {
        const session = await getJson<StoredSession>(options.store, key(entry.s));
        // With both sid and sub, the session must be that person's (spec §2.7).
        if (session && target.sub && session.identity.subject !== target.sub) {
          kept.push(entry);
          continue;
        }
        if (entry.g) await options.upstream?.revoke(entry.g, why.reason, why.message);
        if (session) await manager.destroy(entry.s);
        ended.push({ sessionRef: sessionRef(entry.s), identity: session?.identity, upstreamGrant: entry.g });
      }
      if (kept.length) await setJson(options.store, indexKey, kept, indexTtlSeconds);
      else await options.store.delete(indexKey);
      return ended;
    },
    onEnded(listener) {
      listeners.add(listener);
      subscription ??= subscribeUntilClosed(options.store, SESSION_ENDED_CHANNEL, (ref) => notify({ ref, reason: 'signed_out' }));
      return async () => {
        listeners.delete(listener);
        if (listeners.size > 0 || !subscription) return;
        const closing = subscription;
        subscription = undefined;
        await closing.close();
      };
    },
    listening: () => subscription?.listening() ?? false,
  };
  return manager;
}
