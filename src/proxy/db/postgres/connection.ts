import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { ErrorCode } from '../../../core/error-codes.js';
import type { RequestContext } from '../../../core/types.js';
import { newSessionId } from '../../../recording/ids.js';
import {
  refuseClient,
  secondsLeft,
  serveTls,
  startSessionAudit,
  superviseRelay,
  tlsHandshake,
  verifyClient,
  type DbConnectionDeps,
  type Named,
} from '../client-session.js';
import { verifyPeer, type DbPeer } from '../peer.js';
import { ProtocolError } from '../framer.js';
import { authenticationOk, backendKeyData, errorResponse, parameterStatus, readyForQuery, SSL_ACCEPTED, SSL_REFUSED } from './backend.js';
import { POSTGRES_ALPN, startupReader } from './frontend.js';
import { relayPostgres } from './relay.js';
import { openUpstream, sendCancel, signIn, UpstreamError } from './upstream.js';

/** Startup parameters the gateway decides itself: who signs in where, and no replication protocol. */
const OWN_PARAMS = new Set(['user', 'database', 'replication']);
const UPSTREAM_TIMEOUT_MS = 10_000;

/** A refusal: the client gets a FATAL ErrorResponse with this SQLSTATE, the audit a failed db.session.start. */
class Refusal extends Error {
  constructor(
    readonly reason: ErrorCode,
    message: string,
    readonly sqlstate: string,
    readonly stage: string,
  ) {
    super(message);
  }
}

/**
 * One client connection, from its first byte: SSLRequest (or PostgreSQL 17's direct TLS) → TLS with a client
 * certificate → StartupMessage → authorization from the certificate and the current roles → the
 * server, signed in as the requested db user → relay. A CancelRequest (plaintext, as libpq sends
 * it, or inside TLS) is routed by the gateway's key. Every refusal before the relay is a FATAL
 * ErrorResponse, a failed `db.session.start`, and no connection to the server.
 */
export async function handlePostgres(socket: Socket, deps: DbConnectionDeps): Promise<void> {
  const context: RequestContext = { remoteAddr: socket.remoteAddress };
  const sessionId = newSessionId();
  let client: Socket = socket;
  let reader = startupReader(socket);
  let peer: DbPeer | undefined;
  let params: Record<string, string> = {};
  let roles: string[] | undefined;
  let named: Named | undefined;
  let tls: TLSSocket | undefined;
  let expired = false;
  const timer = setTimeout(() => {
    expired = true;
    client.destroy();
    socket.destroy();
  }, deps.db.startup_timeout);
  timer.unref();

  try {
    let packet = await reader.next();
    if (packet.kind === 'gssenc') {
      socket.write(SSL_REFUSED);
      packet = await reader.next();
    }
    if (packet.kind === 'cancel') return void (await cancel(packet, undefined));
    if (packet.kind === 'startup')
      throw new Refusal('db_tls_required', 'the gateway accepts TLS connections only: connect with sslmode=verify-full (gatehouse db login)', '28000', 'ssl');
    const direct = packet.kind === 'tls';
    if (direct)
      socket.unshift(reader.detach()); // the ClientHello, for the TLS layer
    else {
      if (packet.kind !== 'ssl') throw new Refusal('db_protocol_error', 'unexpected startup packet', '08P01', 'ssl');
      // SSLRequest: answered 'S'; anything the client sent after it in plaintext is refused, never read as TLS data.
      if (reader.detach().length) throw new Refusal('db_protocol_error', 'bytes after SSLRequest before the TLS handshake', '08P01', 'ssl');
      socket.write(SSL_ACCEPTED);
    }
    tls = serveTls(socket, deps.secureContext(), POSTGRES_ALPN);
    client = tls;
    await tlsHandshake(tls, (message) => new Refusal('db_protocol_error', message, '08P01', 'tls'));
    // As PostgreSQL 17 does: direct TLS without the protocol's ALPN could be another protocol's client.
    if (direct && tls.alpnProtocol !== POSTGRES_ALPN)
      throw new Refusal('db_protocol_error', `direct TLS needs the ALPN protocol "${POSTGRES_ALPN}" (sslnegotiation=direct in libpq 17)`, '08P01', 'startup');
    reader = startupReader(tls);
    packet = await reader.next();
    if (packet.kind === 'cancel') return void (await cancel(packet, tls));
    if (packet.kind !== 'startup') throw new Refusal('db_protocol_error', `unexpected ${packet.kind} request inside TLS`, '08P01', 'startup');
    params = packet.params;
    clearTimeout(timer);

    peer = await verifyClient(tls, deps, (code, message, who) => ((named = who), new Refusal(code, message, '28000', 'certificate')));
    if (params.replication !== undefined && params.replication !== 'false')
      throw new Refusal('db_access_denied', 'replication connections are not supported through the gateway', '28000', 'authorize');
    const dbUser = params.user;
    const dbName = params.database || dbUser;
    const decision = deps.authorize(peer, dbUser, dbName);
    roles = decision.access.roles;
    if (!decision.allowed) throw new Refusal(decision.reason, decision.message, '28000', 'authorize');
    const database = decision.database;

    // Authorized: only now is the server contacted.
    let upstreamOf: ReturnType<DbConnectionDeps['upstream']>;
    try {
      upstreamOf = deps.upstream(database, dbUser);
    } catch (err) {
      throw new Refusal('db_upstream_unreachable', `cannot use the database's TLS settings: ${(err as Error).message}`, '08006', 'upstream');
    }
    const { target, password } = upstreamOf;
    const forwarded = Object.fromEntries(Object.entries(params).filter(([k]) => !OWN_PARAMS.has(k)));
    let upstream: Awaited<ReturnType<typeof openUpstream>>;
    let signedIn: Awaited<ReturnType<typeof signIn>>;
    try {
      upstream = await openUpstream(target, UPSTREAM_TIMEOUT_MS);
      try {
        signedIn = await signIn(upstream, { user: dbUser, database: dbName, ...forwarded }, password, target);
      } catch (err) {
        upstream.destroy();
        throw err;
      }
    } catch (err) {
      if (!(err instanceof UpstreamError)) throw err;
      const unreachable = err.kind === 'unreachable';
      throw new Refusal(
        unreachable ? 'db_upstream_unreachable' : 'db_upstream_auth_failed',
        err.message,
        err.sqlstate ?? (unreachable ? '08006' : '28000'),
        'upstream',
      );
    }
    if (tls.destroyed) return void upstream.destroy();

    const validFor = secondsLeft(peer, deps.clock);
    const key = await deps.cancelKeys.issue(
      {
        session_id: sessionId,
        user: peer.identity.username,
        database: database.name,
        db_user: dbUser,
        upstream_pid: signedIn.key.pid,
        upstream_secret: signedIn.key.secret,
      },
      validFor,
    );
    const audit = await startSessionAudit(deps, {
      id: sessionId,
      peer,
      access: decision.access,
      database: database.name,
      protocol: 'postgres',
      dbUser,
      dbName,
      context,
    });
    if (!audit) {
      upstream.destroy();
      void deps.cancelKeys.forget(key.pid);
      tls.end(errorResponse({ severity: 'FATAL', code: '58000', message: 'gatehouse: the session cannot be audited right now; try again later' }));
      return;
    }
    tls.write(
      Buffer.concat([
        authenticationOk(),
        ...signedIn.parameters.map(([name, value]) => parameterStatus(name, value)),
        backendKeyData(key.pid, key.secret),
        readyForQuery(signedIn.status),
      ]),
    );
    const pending = reader.detach();
    const onEnd = () => void deps.cancelKeys.forget(key.pid).catch(() => {});
    superviseRelay({ sessions: deps.sessions, peer, client: tls, validFor, onEnd }, (ended) =>
      relayPostgres({
        client: tls!,
        upstream,
        pending,
        audit,
        maxChars: deps.db.max_query_chars,
        cancelUpstream: () =>
          void sendCancel(target, signedIn.key, UPSTREAM_TIMEOUT_MS).catch((err: Error) =>
            deps.logger.warn({ err: err.message }, 'could not cancel the server statement'),
          ),
        onEnd: ended,
      }),
    );
  } catch (err) {
    clearTimeout(timer);
    let refusal = expired
      ? new Refusal('db_startup_timeout', `the client did not finish TLS and startup within ${deps.db.startup_timeout} ms`, '08006', tls ? 'startup' : 'ssl')
      : err instanceof Refusal
        ? err
        : err instanceof ProtocolError
          ? new Refusal('db_protocol_error', err.message, '08P01', tls ? 'startup' : 'ssl')
          : undefined;
    if (!refusal) deps.logger.error({ err }, 'database connection failed unexpectedly');
    refusal ??= new Refusal('internal_error', 'internal error (the operators can find details in the logs)', 'XX000', 'internal');
    const final = refusal;
    await refuseClient(deps, {
      client,
      sawBytes: reader.sawBytes,
      inTls: tls !== undefined,
      refusal,
      errorBytes: () => errorResponse({ severity: 'FATAL', code: final.sqlstate, message: `gatehouse: ${final.message}` }),
      info: { protocol: 'postgres', context, sessionId, peer, named, roles, dbUser: params.user, dbName: params.database ?? params.user },
    });
  }

  /** A CancelRequest: by the gateway's key only, and never for another person's session when the client shows a certificate. */
  async function cancel(packet: { pid: number; secret: number }, over: TLSSocket | undefined): Promise<void> {
    clearTimeout(timer);
    client.destroy(); // PostgreSQL answers a cancel request with nothing
    const found = await deps.cancelKeys.lookup(packet.pid, packet.secret);
    let caller: string | undefined;
    if (over)
      caller = await verifyPeer(over, deps.caCert(), deps.revocations, deps.clock.now()).then(
        (p) => p.identity.username,
        () => undefined,
      );
    const target = found.target;
    const database = target && deps.databases().find((d) => d.name === target.database);
    const refused = !target || !database || (over !== undefined && caller !== target.user);
    deps.emit({
      type: 'db.cancel',
      outcome: refused ? 'failure' : 'success',
      user: target?.user ?? caller,
      session_id: target?.session_id,
      reason: refused ? 'db_cancel_refused' : undefined,
      context,
      details: {
        protocol: 'postgres',
        database: target?.database,
        ...(refused
          ? { error: !target ? (found.knownPid ? 'wrong secret for the process id' : 'no session has this key') : 'the key is for another person’s session' }
          : {}),
      },
    });
    if (refused) return;
    // With the session's own credential (a key stored before db_user was kept: the `*` entry's).
    const forward = async () =>
      sendCancel(deps.upstream(database, target.db_user ?? '*').target, { pid: target.upstream_pid, secret: target.upstream_secret }, UPSTREAM_TIMEOUT_MS);
    await forward().catch((err: Error) => deps.logger.warn({ err: err.message, database: database.name }, 'could not forward a cancel request'));
  }
}
