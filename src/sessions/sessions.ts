import { systemClock, type Clock } from '../core/clock.js';
import { randomId, sha256Hex } from '../core/ids.js';
import type { ExternalIdentity, Session } from '../core/types.js';
import { getJson, setJson, type Store } from '../store/store.js';

export interface SessionManager {
  /** A fresh session with a new random id (never reuses a pre-login id). */
  create(identity: ExternalIdentity, extras?: { upstreamIdToken?: string; upstreamLogout?: Record<string, string> }): Promise<Session>;
  /** The live session, or null when unknown, idle too long, or past its absolute expiry. */
  get(id: string): Promise<Session | null>;
  destroy(id: string): Promise<void>;
}

const key = (id: string) => `session:${id}`;
/** Refresh lastSeenAt at most this often, so reads do not all turn into writes. */
const TOUCH_INTERVAL_MS = 60_000;

export function createSessionManager(options: { store: Store; idleTtlMs: number; absoluteTtlMs: number; clock?: Clock }): SessionManager {
  const clock = options.clock ?? systemClock;
  const ttlSeconds = (s: Session) =>
    Math.max(1, Math.ceil(Math.min(s.lastSeenAt + options.idleTtlMs, s.expiresAt) / 1000 - clock.now() / 1000));

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
    },
  };
}

/** The id audit events and logs carry: a digest, since the session id itself is a bearer secret. */
export const sessionRef = (id: string): string => sha256Hex(id).slice(0, 24);

/** The store channel on which a session's end (its sessionRef) is announced to every replica. */
export const SESSION_ENDED_CHANNEL = 'sessions:ended';
