import { randomInt } from 'node:crypto';
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { ErrorCode } from '../../../core/error-codes.js';
import type { RequestContext } from '../../../core/types.js';
import { newSessionId } from '../../../recording/ids.js';
import { ProtocolError } from '../framer.js';
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
import type { DbPeer } from '../peer.js';
import { UpstreamError } from '../postgres/upstream.js';
import { CAP, greeting, OFFERED, parseClientHello, type ClientHello } from './handshake.js';
import { handshakeReader } from './packet-reader.js';
import { relayMysql } from './relay.js';
import { killUpstreamQuery, signInMysql, type MysqlUpstream, type SignInRequest } from './upstream.js';
import { errPacket, okPacket } from './wire.js';

/** What a MySQL connection needs from the listener: the same as a PostgreSQL one. */
type MysqlDeps = DbConnectionDeps;

/** Handshake packets are small (MySQL's own limit for them is a few KiB); a bigger length is refused from its header. */
const MAX_HANDSHAKE_PACKET = 16_384;
const UPSTREAM_TIMEOUT_MS = 10_000;

/** A refusal: the client gets an ERR packet with this error number and SQLSTATE, the audit a failed db.session.start. */
class Refusal extends Error {
  constructor(
    readonly reason: ErrorCode,
    message: string,
    readonly code: number,
    readonly sqlstate: string,
    readonly stage: string,
  ) {
    super(message);
  }
}
const denied = (reason: ErrorCode, message: string, stage: string) => new Refusal(reason, message, 1045, '28000', stage);

/**
 * One MySQL client connection, from the gateway's greeting: Initial Handshake (the gateway's
 * connection id, CLIENT_SSL) → SSLRequest → TLS with a client certificate → HandshakeResponse41
 * (db user, database) → authorization from the certificate and the current roles → the server,
 * signed in as the requested db user → OK → relay. Every refusal before the relay is an ERR
 * packet (1045, 28000; 1044 for a db name), a failed `db.session.start`, and no connection to
 * the server.
 */
export async function handleMysql(socket: Socket, deps: MysqlDeps): Promise<void> {
  const context: RequestContext = { remoteAddr: socket.remoteAddress };
  const sessionId = newSessionId();
  const connectionId = randomInt(1, 2 ** 31 - 1);
  let client: Socket = socket;
  let reader = handshakeReader(socket, MAX_HANDSHAKE_PACKET);
  let peer: DbPeer | undefined;
  let hello: ClientHello | undefined;
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
    socket.write(greeting(connectionId));
    const first = await reader.next();
    const request = parseClientHello(first.payload);
    if (!request.sslRequest)
      throw denied(
        'db_tls_required',
        'the gateway accepts TLS connections only: connect with --ssl-verify-server-cert and the files of `gatehouse db login`',
        'ssl',
      );
    // Clients send their TLS ClientHello right behind the SSLRequest: those bytes go to the TLS layer (which reads what the socket holds), never to the protocol.
    const early = reader.detach();
    if (early.length) socket.unshift(early);
    tls = serveTls(socket, deps.secureContext());
    client = tls;
    await tlsHandshake(tls, (message) => new Refusal('db_protocol_error', message, 1043, '08S01', 'tls'));
    reader = handshakeReader(tls, MAX_HANDSHAKE_PACKET);
    const response = await reader.next();
    hello = parseClientHello(response.payload);
    if (hello.sslRequest) throw new Refusal('db_protocol_error', 'a second SSLRequest inside TLS', 1043, '08S01', 'startup');
    clearTimeout(timer);

    peer = await verifyClient(tls, deps, (code, message, who) => ((named = who), denied(code, message, 'certificate')));
    const dbUser = hello.user;
    const dbName = hello.database;
    const decision = deps.authorize(peer, dbUser, dbName);
    roles = decision.access.roles;
    if (!decision.allowed) {
      if (decision.reason !== 'db_name_not_allowed') throw denied(decision.reason, decision.message, 'authorize');
      const message = dbName ? decision.message : `say which database to open (mariadb --database, or database= in the option file): ${decision.message}`;
      throw new Refusal('db_name_not_allowed', message, 1044, '42000', 'authorize');
    }
    const database = decision.database;

    // Authorized: only now is the server contacted.
    let upstreamOf: ReturnType<MysqlDeps['upstream']>;
    try {
      upstreamOf = deps.upstream(database, dbUser);
    } catch (err) {
      throw new Refusal('db_upstream_unreachable', `cannot use the database's TLS settings: ${(err as Error).message}`, 2003, 'HY000', 'upstream');
    }
    const { target, password } = upstreamOf;
    const signIn: SignInRequest = {
      user: dbUser,
      database: dbName,
      flags: hello.flags & OFFERED & ~CAP.SSL,
      charset: hello.charset,
      maxPacket: hello.maxPacket,
      // Who is behind the session, for the server's own views (performance_schema.session_connect_attrs).
      attributes: [...hello.attributes.filter(([k]) => !k.startsWith('_gatehouse')), ['_gatehouse_user', peer.identity.username]],
      password,
    };
    let upstream: MysqlUpstream;
    try {
      upstream = await signInMysql(target, signIn, UPSTREAM_TIMEOUT_MS);
    } catch (err) {
      if (!(err instanceof UpstreamError)) throw err;
      if (err.kind === 'unreachable') throw new Refusal('db_upstream_unreachable', err.message, 2003, 'HY000', 'upstream');
      throw new Refusal('db_upstream_auth_failed', err.message, 1045, err.sqlstate ?? '28000', 'upstream');
    }
    if (tls.destroyed) return void upstream.socket.destroy();

    const validFor = secondsLeft(peer, deps.clock);
    const claimed = await deps.cancelKeys
      .claim(
        connectionId,
        {
          session_id: sessionId,
          user: peer.identity.username,
          database: database.name,
          upstream_pid: upstream.threadId,
          upstream_secret: 0,
          protocol: 'mysql',
        },
        validFor,
      )
      .catch(() => false);
    if (!claimed) deps.logger.warn({ connectionId }, 'MySQL connection id already taken; KILL of this session will not be routed');
    const audit = await startSessionAudit(deps, {
      id: sessionId,
      peer,
      access: decision.access,
      database: database.name,
      protocol: 'mysql',
      dbUser,
      dbName,
      context,
    });
    if (!audit) {
      upstream.socket.destroy();
      if (claimed) void deps.cancelKeys.forget(connectionId).catch(() => {});
      tls.end(errPacket(response.seq + 1, 1105, 'HY000', 'gatehouse: the session cannot be audited right now; try again later'));
      return;
    }
    tls.write(okPacket(response.seq + 1, upstream.status));
    const pending = reader.detach();
    const me = peer.identity.username;
    const onEnd = () => void (claimed && deps.cancelKeys.forget(connectionId).catch(() => {}));
    superviseRelay({ sessions: deps.sessions, peer, client: tls, validFor, onEnd }, (ended) =>
      relayMysql({
        client: tls!,
        upstream: upstream.socket,
        pending,
        audit,
        maxChars: deps.db.max_query_chars,
        multiStatements: (upstream.flags & CAP.MULTI_STATEMENTS) !== 0,
        checkName: (name) => {
          const d = deps.authorize(peer!, dbUser, name);
          return d.allowed ? undefined : { reason: d.reason, message: d.message };
        },
        kill: async (id, what) => {
          const found = await deps.cancelKeys.find(id).catch(() => undefined);
          const details = { connection_id: id, kill: what };
          if (!found || found.database !== database.name) {
            audit.cancel('failure', { ...details, error: 'no session of this database has this connection id' }, 'db_cancel_refused');
            return { code: 1094, message: `Unknown thread id: ${id} (KILL takes the connection id the gateway gave the session)` };
          }
          if (found.user !== me) {
            audit.cancel('failure', { ...details, error: 'the id is for another person’s session', target_session_id: found.session_id }, 'db_cancel_refused');
            return { code: 1095, message: `You are not owner of thread ${id}` };
          }
          audit.cancel('success', { ...details, target_session_id: found.session_id });
          return { upstreamId: found.upstream_pid };
        },
        cancelUpstream: () =>
          void killUpstreamQuery(target, signIn, upstream.threadId, UPSTREAM_TIMEOUT_MS).catch((err: Error) =>
            deps.logger.warn({ err: err.message }, 'could not stop the server statement'),
          ),
        onEnd: ended,
      }),
    );
  } catch (err) {
    clearTimeout(timer);
    let refusal = expired
      ? new Refusal(
          'db_startup_timeout',
          `the client did not finish TLS and the handshake within ${deps.db.startup_timeout} ms`,
          1043,
          '08S01',
          tls ? 'startup' : 'ssl',
        )
      : err instanceof Refusal
        ? err
        : err instanceof ProtocolError
          ? new Refusal('db_protocol_error', err.message, 1043, '08S01', tls ? 'startup' : 'ssl')
          : undefined;
    if (!refusal) deps.logger.error({ err }, 'database connection failed unexpectedly');
    refusal ??= new Refusal('internal_error', 'internal error (the operators can find details in the logs)', 1105, 'HY000', 'internal');
    // A client that left after the greeting without a byte (a health check, a port scan) is not worth an event.
    const final = refusal;
    await refuseClient(deps, {
      client,
      sawBytes: reader.sawBytes,
      inTls: tls !== undefined,
      refusal,
      errorBytes: () => errPacket(tls ? 3 : 2, final.code, final.sqlstate, `gatehouse: ${final.message}`),
      info: { protocol: 'mysql', context, sessionId, peer, named, roles, dbUser: hello?.user, dbName: hello?.database },
    });
  }
}
