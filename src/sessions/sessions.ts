import { systemClock, type Clock } from '../core/clock.js';
import { randomId, sha256Hex } from '../core/ids.js';
import type { ExternalIdentity, Session } from '../core/types.js';
import { getJson, setJson, type Store } from '../store/store.js';
import { subscribeUntilClosed, type Subscription } from '../store/subscription.js';

/** A session's end, by its sessionRef: `expired` only when this replica found it past its time. */
export interface SessionEnd {
  ref: string;
  reason: 'signed_out' | 'expired';
}

export interface SessionManager {
  /** A fresh session with a new random id (never reuses a pre-login id). */
  create(identity: ExternalIdentity, extras?: { upstreamIdToken?: string; upstreamLogout?: Record<string, string> }): Promise<Session>;
  /** The live session, or null when unknown, idle too long, or past its absolute expiry. */
  get(id: string): Promise<Session | null>;
  /** Ends a session, here and (announced through the store) on every replica. */
  destroy(id: string): Promise<void>;
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

/** The id audit events and logs carry: a digest, since the session id itself is a bearer secret. */
export const sessionRef = (id: string): string => sha256Hex(id).slice(0, 24);

/** The store channel on which a session's end (its sessionRef) is announced to every replica. */
const SESSION_ENDED_CHANNEL = 'sessions:ended';

export function createSessionManager(options: {
  store: Store;
  idleTtlMs: number;
  absoluteTtlMs: number;
  clock?: Clock;
  logger?: { warn(obj: object, msg: string): void };
}): SessionManager {
  const clock = options.clock ?? systemClock;
  const ttlSeconds = (s: Session) => Math.max(1, Math.ceil(Math.min(s.lastSeenAt + options.idleTtlMs, s.expiresAt) / 1000 - clock.now() / 1000));

  const listeners = new Set<(end: SessionEnd) => void>();
  // Held only while someone listens, so a manager nobody watches opens no store subscription.
  let subscription: Subscription | undefined;
  const notify = (end: SessionEnd) => {
    for (const listener of [...listeners]) listener(end);
  };

  return {
    async create(identity, extras = {}) {
      const now = clock.now();
      const session: Session = {
        id: randomId(32),
        identity,
        createdAt: now,
        lastSeenAt: now,
        expiresAt: now + options.absoluteTtlMs,
        upstreamIdToken: extras.upstreamIdToken,
        upstreamLogout: extras.upstreamLogout,
      };
      await setJson(options.store, key(session.id), session, ttlSeconds(session));
      return session;
    },
    async get(id) {
      if (!/^[A-Za-z0-9_-]{43}$/.test(id)) return null;
      const session = await getJson<Session>(options.store, key(id));
      if (!session) return null;
      const now = clock.now();
      if (now >= session.expiresAt || now >= session.lastSeenAt + options.idleTtlMs) {
        await options.store.delete(key(id));
        // Not announced: every replica reads the same deadlines (and the store drops the record at them).
        notify({ ref: sessionRef(id), reason: 'expired' });
        return null;
      }
      if (now - session.lastSeenAt >= TOUCH_INTERVAL_MS) {
        session.lastSeenAt = now;
        await setJson(options.store, key(id), session, ttlSeconds(session));
      }
      return session;
    },
    async destroy(id) {
      await options.store.delete(key(id));
      const ref = sessionRef(id);
      notify({ ref, reason: 'signed_out' });
      await options.store
        .publish(SESSION_ENDED_CHANNEL, ref)
        .catch((err: Error) => options.logger?.warn({ err: err.message }, 'could not announce a session end to other replicas'));
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
}
