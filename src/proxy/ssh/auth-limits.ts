import { createHash } from 'node:crypto';
import type { AuthContext, Connection, PublicKeyAuthContext } from 'ssh2';
import type { RequestContext } from '../../core/types.js';
import { isCertAlgorithm, parseCertificate } from '../../ssh-ca/certs.js';
import { createFixedWindowLimiter } from '../../store/rate-limit.js';
import type { Store } from '../../store/store.js';

/**
 * Failed-authentication limits, counted in the shared store: after `perAddress` (20) failures
 * from one client address, or `perUser` (10) for one person (the Gatehouse user a certificate
 * names), within `windowSeconds` (60), further attempts are refused without verification
 * (audited once per window and limit).
 */
export interface AuthLimitOptions {
  store: Store;
  perAddress?: number;
  perUser?: number;
  windowSeconds?: number;
}

/** Which limit refused an attempt, and whether this is its first refusal of the window (the one to audit). */
export interface AuthRefusal {
  limit: 'address' | 'user';
  first: boolean;
}

export interface AuthLimits {
  readonly windowSeconds: number;
  /** Counts one authentication request of the connection; false once past MAX_AUTH_TRIES. */
  countAttempt(conn: Connection): boolean;
  /** Set when a limit is reached for this address or person: the attempt is refused without verification. */
  refusal(context: RequestContext, person: string | undefined): Promise<AuthRefusal | undefined>;
  /** Counts a failure; a plain key only when it is the connection's first failure. Never throws for the store. */
  recordFailure(conn: Connection, context: RequestContext, person: string | undefined, plainKey?: boolean): Promise<void>;
}

/** Authentication requests per connection before it is closed (OpenSSH's MaxAuthTries is 6). */
const MAX_AUTH_TRIES = 10;

/**
 * The person an attempt claims to be: the Gatehouse user its certificate names (its key id, read
 * without verifying anything). Plain keys and other methods name no person.
 */
export function claimedUser(ctx: AuthContext): string | undefined {
  if (ctx.method !== 'publickey' || !isCertAlgorithm((ctx as PublicKeyAuthContext).key.algo)) return undefined;
  try {
    return parseCertificate((ctx as PublicKeyAuthContext).key.data).keyId || undefined;
  } catch {
    return undefined;
  }
}

const userKey = (user: string) => createHash('sha256').update(user).digest('hex').slice(0, 32);

// Failed attempts per client address and per person; a refusal past the limit is counted in
// its own key so that only the first one of a window is audited. SSH usernames are shared
// (the jump's `gatehouse@`, node logins such as root), so counting them would let anyone lock
// everybody out: failures naming no person count per address only. Without options, only the
// per-connection cap applies.
export function createAuthLimits(limit: AuthLimitOptions | undefined): AuthLimits {
  const windowSeconds = limit?.windowSeconds ?? 60;
  const limiters = limit && {
    byAddress: createFixedWindowLimiter(limit.store, { name: 'ssh-auth:addr', limit: limit.perAddress ?? 20, windowSeconds }),
    byUser: createFixedWindowLimiter(limit.store, { name: 'ssh-auth:user', limit: limit.perUser ?? 10, windowSeconds }),
    refusals: createFixedWindowLimiter(limit.store, { name: 'ssh-auth:refused', limit: 0, windowSeconds }),
  };
  // Per connection: attempts so far (capped like OpenSSH's MaxAuthTries), and whether it already
  // counted a failure. Plain keys count only as a connection's first failure, so a client whose
  // agent offers several keys before its certificate costs one, not one per key.
  const attemptsOf = new WeakMap<Connection, { attempts: number; counted: boolean }>();
  const seenOf = (conn: Connection) => {
    const seen = attemptsOf.get(conn) ?? { attempts: 0, counted: false };
    attemptsOf.set(conn, seen);
    return seen;
  };
  const limitedBy = async (context: RequestContext, person: string | undefined): Promise<AuthRefusal['limit'] | undefined> => {
    try {
      if (await limiters!.byAddress.exhausted(String(context.remoteAddr))) return 'address';
      if (person && (await limiters!.byUser.exhausted(userKey(person)))) return 'user';
    } catch {
      // Store away: not limited here; the session is refused later, when revocation cannot be checked.
    }
    return undefined;
  };

  return {
    windowSeconds,
    countAttempt: (conn) => ++seenOf(conn).attempts <= MAX_AUTH_TRIES,
    async refusal(context, person) {
      if (!limiters) return undefined;
      const which = await limitedBy(context, person);
      if (!which) return undefined;
      const refusal = await limiters.refusals.hit(`${which}:${which === 'address' ? String(context.remoteAddr) : userKey(person!)}`);
      return { limit: which, first: refusal.first };
    },
    async recordFailure(conn, context, person, plainKey = false) {
      const seen = seenOf(conn);
      if (!limiters || (plainKey && seen.counted)) return;
      seen.counted = true;
      // Store away: nothing is counted, and the revocation check that follows refuses with a clear message.
      await Promise.all([limiters.byAddress.hit(String(context.remoteAddr)), person ? limiters.byUser.hit(userKey(person)) : undefined]).catch(() => undefined);
    },
  };
}
