import type { X509Certificate } from 'node:crypto';
import type { Socket } from 'node:net';
import { TLSSocket, type SecureContext } from 'node:tls';
import type { AuditInput, AuditSink } from '../../audit/sink.js';
import type { DatabaseConfig, DbConfig } from '../../config/databases.js';
import type { Clock } from '../../core/clock.js';
import { isGatehouseError } from '../../core/errors.js';
import type { ErrorCode } from '../../core/error-codes.js';
import type { Logger } from '../../core/logger.js';
import type { Recorder } from '../../recording/recorder.js';
import type { Revocations } from '../../ssh-ca/revocation.js';
import type { DbDecision } from './authorize.js';
import type { CancelKeys } from './cancel-keys.js';
import type { OpenSessions } from './open-sessions.js';
import { verifyPeer, type DbPeer } from './peer.js';
import type { UpstreamTarget } from './postgres/upstream.js';
import { createSessionAudit, type DbSessionInfo, type SessionAudit } from './session-audit.js';

/*
 * What a client connection goes through the same way in both protocols, before and around the
 * relay: TLS with a client certificate, the certificate check, a refusal (the protocol's error,
 * a failed `db.session.start`), the awaited session start, and a relay bounded by the
 * certificate's lifetime and the open-sessions registry. The protocol modules own the wire.
 */

/** What a database client connection needs from the listener. */
export interface DbConnectionDeps {
  db: DbConfig;
  databases: () => DatabaseConfig[];
  secureContext: () => SecureContext;
  /** The database CA's certificate: what client certificates must be signed by. */
  caCert: () => X509Certificate;
  revocations: Pick<Revocations, 'isRevoked'>;
  authorize: (peer: DbPeer, user: string, name: string) => DbDecision;
  /** How to sign in to `database` as db user `user`: the target (its TLS with that user's client certificate, if any) and password. Throws when a file cannot be used. */
  upstream: (database: DatabaseConfig, user: string) => { target: UpstreamTarget; password: string | undefined };
  cancelKeys: CancelKeys;
  audit: AuditSink;
  emit: (input: AuditInput) => Promise<void>;
  recorder?: Recorder;
  sessions: OpenSessions;
  logger: Logger;
  clock: Clock;
}

/** Who a refused certificate names, once its signature checked out. */
export type Named = { username?: string; connector?: string };

/** Puts server-side TLS over the client's socket, asking for a certificate (checked by `verifyClient`, not by TLS). */
export function serveTls(socket: Socket, secureContext: SecureContext, alpn?: string): TLSSocket {
  return new TLSSocket(socket, { isServer: true, secureContext, requestCert: true, rejectUnauthorized: false, ...(alpn ? { ALPNProtocols: [alpn] } : {}) });
}

/** Resolves once the TLS handshake is done; rejects with `refuse(message)` when it fails or the client leaves. */
export function tlsHandshake(tls: TLSSocket, refuse: (message: string) => Error): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    tls.once('secure', resolve);
    tls.once('error', (err: Error) => reject(refuse(`TLS handshake failed: ${err.message}`)));
    tls.once('close', () => reject(refuse('the client closed the connection during the TLS handshake')));
  });
}

/** The client's certificate, checked; a refused one throws `refuse(code, message, named)`. */
export async function verifyClient(
  tls: TLSSocket,
  deps: DbConnectionDeps,
  refuse: (code: ErrorCode, message: string, named: Named | undefined) => Error,
): Promise<DbPeer> {
  try {
    return await verifyPeer(tls, deps.caCert(), deps.revocations, deps.clock.now());
  } catch (err) {
    if (!isGatehouseError(err)) throw err;
    throw refuse(err.code, err.message, err.details as Named | undefined);
  }
}

/**
 * Ends a refused connection: with the protocol's error (`errorBytes`) when the client can still
 * read it, and a failed `db.session.start`. A connection that closed without a byte (a health
 * check, a port scan) is not worth an event.
 */
export async function refuseClient(
  deps: Pick<DbConnectionDeps, 'emit'>,
  o: {
    client: Socket;
    sawBytes: boolean;
    inTls: boolean;
    refusal: { reason: ErrorCode; message: string; stage: string };
    errorBytes: () => Buffer;
    info: Pick<DbSessionInfo, 'protocol' | 'context'> & { sessionId: string; peer?: DbPeer; named?: Named; roles?: string[]; dbUser?: string; dbName?: string };
  },
): Promise<void> {
  const { client, refusal, info } = o;
  if (!o.sawBytes && !o.inTls) return void client.destroy();
  if (client.writable && refusal.stage !== 'tls') client.end(o.errorBytes());
  else client.destroy();
  setTimeout(() => client.destroy(), 2000).unref();
  await deps.emit({
    type: 'db.session.start',
    outcome: 'failure',
    user: info.peer?.identity.username ?? info.named?.username,
    connector: info.peer?.identity.connector ?? info.named?.connector,
    roles: info.roles,
    session_id: info.sessionId,
    reason: refusal.reason,
    context: info.context,
    details: {
      protocol: info.protocol,
      stage: refusal.stage,
      database: info.peer?.database,
      db_user: info.dbUser,
      db_name: info.dbName,
      error: refusal.message,
    },
  });
}

/** Seconds the certificate has left: how long the session and its cancel key may live. */
export const secondsLeft = (peer: DbPeer, clock: Clock): number => Math.ceil((peer.notAfter.getTime() - clock.now()) / 1000);

/** The session's audit, once `db.session.start` is recorded; undefined (logged) when it cannot be: the session must not start. */
export async function startSessionAudit(deps: DbConnectionDeps, info: DbSessionInfo): Promise<SessionAudit | undefined> {
  const audit = createSessionAudit({ audit: deps.audit, emit: deps.emit, recorder: deps.recorder, info, maxChars: deps.db.max_query_chars, clock: deps.clock });
  try {
    await audit.start({ serial: info.peer.serial, valid_before: info.peer.notAfter.toISOString() });
    return audit;
  } catch (err) {
    deps.logger.error({ err }, 'db.session.start could not be audited; refusing the session');
    return undefined;
  }
}

interface Endable {
  end(reason: string, message?: string): void;
}

/**
 * Runs a relay (`start` gets the callback the relay calls when it ends) under the gateway's
 * watch: it never outlives the certificate (`validFor` seconds), and the open-sessions registry
 * can end it (a revocation, a role change).
 */
export function superviseRelay(
  o: { sessions: OpenSessions; peer: DbPeer; client: TLSSocket; validFor: number; onEnd: () => void },
  start: (onEnd: () => void) => Endable,
): void {
  let untrack = () => {};
  const expiry = setTimeout(
    () => relay.end('cert_expired', 'gatehouse: your certificate has expired; the session has ended'),
    Math.min(Math.max(0, o.validFor * 1000), 2 ** 31 - 1),
  );
  expiry.unref();
  const relay = start(() => {
    clearTimeout(expiry);
    untrack();
    o.onEnd();
  });
  untrack = o.sessions.add({ peer: o.peer, end: (reason, message) => relay.end(reason, message) });
  if (o.client.destroyed) relay.end('closed');
}
