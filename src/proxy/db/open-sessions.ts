import type { Logger } from '../../core/logger.js';
import { covers, type Revocation } from '../../ssh-ca/revocation.js';
import { revocationView, type DbPeer } from './peer.js';

interface OpenSession {
  peer: DbPeer;
  end(reason: string, message: string): void;
}

/** The database sessions open on this replica, so a revocation (heard from any replica) or shutdown ends them. */
export function createOpenSessions(logger: Logger) {
  const sessions = new Set<OpenSession>();
  return {
    /** Tracks a session until the returned function is called. */
    add(session: OpenSession): () => void {
      sessions.add(session);
      return () => sessions.delete(session);
    },
    endRevoked(revocation: Revocation) {
      for (const s of [...sessions]) {
        if (!covers(revocation, revocationView(s.peer))) continue;
        logger.info({ user: s.peer.identity.username, serial: s.peer.serial }, 'ending a database session: its certificate was revoked');
        s.end('revoked', 'gatehouse: your certificate was revoked; the session has ended');
      }
    },
    endAll(message: string) {
      for (const s of [...sessions]) s.end('shutdown', message);
    },
    get size() {
      return sessions.size;
    },
  };
}

export type OpenSessions = ReturnType<typeof createOpenSessions>;
