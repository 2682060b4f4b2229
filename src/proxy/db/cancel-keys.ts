import { randomInt, timingSafeEqual } from 'node:crypto';
import { getJson, type Store } from '../../store/store.js';

/**
 * Cancel keys. A client gets the gateway's own key (process id and secret), never the server's:
 * a CancelRequest names the gateway key, and the replica that receives it (any replica, through
 * the shared store) finds the session and sends the server's key for it. A key of no session, or a
 * right process id with the wrong secret, cancels nothing.
 */
export interface CancelTarget {
  session_id: string;
  user: string;
  database: string;
  /** The server's own key for the session. */
  upstream_pid: number;
  upstream_secret: number;
  /** The db user the session signed in as: a cancel is sent with that user's credential (its client certificate). */
  db_user?: string;
  /** Set for MySQL sessions: the key is their connection id (a `KILL` names it; there is no secret). */
  protocol?: 'mysql';
}

interface Stored extends CancelTarget {
  secret: number;
}

const key = (pid: number) => `db:cancel:${pid}`;

export function createCancelKeys(store: Store) {
  return {
    /** A fresh gateway key for the session, kept until `ttlSeconds` (the certificate's end) or forget(). */
    async issue(target: CancelTarget, ttlSeconds: number): Promise<{ pid: number; secret: number }> {
      for (;;) {
        const pid = randomInt(1, 2 ** 31 - 1);
        const secret = randomInt(-(2 ** 31), 2 ** 31 - 1);
        if (await store.setIfAbsent(key(pid), JSON.stringify({ ...target, secret }), Math.max(1, ttlSeconds))) return { pid, secret };
      }
    },

    /** The session a key cancels, or undefined (unknown process id or wrong secret). */
    async lookup(pid: number, secret: number): Promise<{ target?: CancelTarget; knownPid: boolean }> {
      const stored = await getJson<Stored>(store, key(pid));
      if (!stored) return { knownPid: false };
      const a = Buffer.alloc(4);
      const b = Buffer.alloc(4);
      a.writeInt32BE(stored.secret);
      b.writeInt32BE(secret);
      if (!timingSafeEqual(a, b)) return { knownPid: true };
      const { secret: _, ...target } = stored;
      return { target, knownPid: true };
    },

    /** MySQL: keeps the connection id the client saw in the handshake for the session; false when another session holds it. */
    async claim(pid: number, target: CancelTarget, ttlSeconds: number): Promise<boolean> {
      const secret = randomInt(-(2 ** 31), 2 ** 31 - 1);
      return store.setIfAbsent(key(pid), JSON.stringify({ ...target, secret }), Math.max(1, ttlSeconds));
    },

    /** MySQL: the session of a connection id (a `KILL` has no secret: the caller checks whose it is). */
    async find(pid: number): Promise<CancelTarget | undefined> {
      const stored = await getJson<Stored>(store, key(pid));
      if (!stored || stored.protocol !== 'mysql') return undefined;
      const { secret: _, ...target } = stored;
      return target;
    },

    forget: (pid: number) => store.delete(key(pid)),
  };
}

export type CancelKeys = ReturnType<typeof createCancelKeys>;
