import type { Connection } from 'ssh2';
import type { Logger } from '../../core/logger.js';
import type { ParsedCertificate } from '../../ssh-ca/certs.js';
import { covers, type Revocation } from '../../ssh-ca/revocation.js';
import type { RequestGrant } from '../../access/policy.js';
import type { RequestBoundSessions } from '../../requests/bound-sessions.js';

/** Open connections, with the certificate each authenticated with, so a revocation can end them. */
export interface OpenConnections {
  /** Remembers a new connection until it closes. */
  track(conn: Connection): void;
  /** From here on, a revocation covering `cert`, or the end of one of `requests`, ends this connection. */
  authenticatedWith(conn: Connection, cert: ParsedCertificate, requests?: RequestGrant[]): void;
  /** Ends every connection whose certificate the revocation covers. */
  endRevoked(revocation: Revocation): void;
  /** Ends every open connection (the end of the shutdown grace). */
  endAll(): void;
}

export function createOpenConnections(logger: Logger, requestSessions?: RequestBoundSessions): OpenConnections {
  const connections = new Map<Connection, ParsedCertificate | undefined>();
  return {
    track(conn) {
      connections.set(conn, undefined);
      conn.on('close', () => connections.delete(conn));
    },
    authenticatedWith(conn, cert, requests = []) {
      if (!connections.has(conn)) return;
      connections.set(conn, cert);
      const unbind = requestSessions?.bind(
        requests.map((r) => r.id),
        (id) => {
          logger.info({ user: cert.keyId, request: id }, 'ending an SSH connection: its access request ended');
          conn.end();
        },
      );
      if (unbind) conn.once('close', unbind);
    },
    endRevoked(revocation) {
      for (const [conn, cert] of connections) {
        if (!cert || !covers(revocation, cert)) continue;
        logger.info({ user: cert.keyId, serial: cert.serial.toString() }, 'ending an SSH connection: its certificate was revoked');
        conn.end();
      }
    },
    endAll() {
      for (const conn of connections.keys()) conn.end();
    },
  };
}
