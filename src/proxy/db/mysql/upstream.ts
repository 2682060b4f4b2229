import { connect as tcpConnect, type Socket } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import mysql2 from 'mysql2';
import type { UpstreamTarget } from '../postgres/upstream.js';
import { certificateRefusal, UpstreamError } from '../postgres/upstream.js';
import { CAP, handshakeResponse, parseServerHello, sslRequest } from './handshake.js';
import { handshakeReader } from './packet-reader.js';
import { packet, PayloadReader } from './wire.js';

/*
 * The gateway's own connection to a MySQL or MariaDB server: TCP, TLS when configured (the
 * server's certificate and name verified), then a HandshakeResponse41 as the requested db user
 * with the configured password, answering the server's auth plugin, auth switches included:
 * mysql_native_password, caching_sha2_password (fast and full authentication; full
 * authentication without TLS, on loopback, fetches the server's RSA key) and
 * mysql_clear_password (TLS or loopback only). The plugins' arithmetic is mysql2's own. A client
 * certificate, when configured, is presented in the TLS handshake after the SSLRequest (a user
 * `REQUIRE X509`); with no password the plugin sends an empty auth response, which MariaDB and
 * MySQL accept for a passwordless user.
 */

type Plugin = (data: Buffer) => Buffer | null | string | Promise<Buffer | string | null>;
type PluginFactory = (options: Record<string, unknown>) => (meta: { connection: unknown; command: unknown }) => Plugin;
const plugins = mysql2.authPlugins as unknown as Record<string, PluginFactory>;
const SUPPORTED = ['mysql_native_password', 'caching_sha2_password', 'mysql_clear_password'];

/** Handshake packets from the server are small; anything bigger is not a server of this protocol. */
const MAX_HANDSHAKE_PACKET = 65_536;

export interface SignInRequest {
  user: string;
  database: string;
  /** The client's capability flags (already limited to what the gateway offered), charset and max packet size. */
  flags: number;
  charset: number;
  maxPacket: number;
  attributes: [string, string][];
  /** Undefined: an empty auth response (a passwordless user, e.g. one that REQUIREs X509). */
  password: string | undefined;
}

export interface MysqlUpstream {
  socket: Socket | TLSSocket;
  /** The server's connection id (what `KILL` takes there). */
  threadId: number;
  /** The server's status flags from its OK. */
  status: number;
  /** Capability flags in force between the gateway and the server. */
  flags: number;
}

async function open(target: UpstreamTarget, timeoutMs: number): Promise<Socket> {
  const socket = tcpConnect({ host: target.host, port: target.port });
  socket.setNoDelay(true);
  const timer = setTimeout(() => socket.destroy(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    socket.removeAllListeners('error');
    return socket;
  } catch (err) {
    socket.destroy();
    throw new UpstreamError('unreachable', `cannot reach the database at ${target.host}:${target.port}: ${(err as Error).message}`);
  } finally {
    clearTimeout(timer);
  }
}

const serverError = (payload: Buffer): { code: number; sqlstate?: string; message: string } => {
  const r = new PayloadReader(payload);
  r.uint(1);
  const code = r.uint(2) ?? 0;
  const marker = payload[3] === 0x23; // '#'
  if (marker) r.bytes(1);
  const sqlstate = marker ? r.bytes(5).toString('latin1') : undefined;
  return { code, sqlstate, message: r.rest().toString('utf8') };
};

/** Connects and signs in; resolves once the server answered OK. */
export async function signInMysql(target: UpstreamTarget, request: SignInRequest, timeoutMs: number): Promise<MysqlUpstream> {
  const raw = await open(target, timeoutMs);
  let socket: Socket | TLSSocket = raw;
  let reader = handshakeReader(raw, MAX_HANDSHAKE_PACKET, 'the database');
  const timer = setTimeout(() => raw.destroy(new Error(`the database did not finish the sign-in within ${timeoutMs} ms`)), timeoutMs);
  const fail = (kind: 'unreachable' | 'refused', message: string, sqlstate?: string) => new UpstreamError(kind, message, sqlstate);
  // A socket error ends the sign-in through the reader (which sees the close); kept for the message (a TLS alert says why).
  let socketError: Error | undefined;
  const onSocketError = (err: Error) => void (socketError ??= err);
  raw.on('error', onSocketError);
  try {
    const hello = await reader.next();
    if (hello.payload[0] === 0xff) {
      const e = serverError(hello.payload);
      throw fail('unreachable', `the database refused the connection: ${e.message} (${e.code})`);
    }
    const server = parseServerHello(hello.payload);
    const wanted = request.flags | CAP.PROTOCOL_41 | CAP.SECURE_CONNECTION | CAP.PLUGIN_AUTH | CAP.PLUGIN_AUTH_LENENC | CAP.LONG_PASSWORD;
    let flags = (wanted & server.flags & ~(CAP.SSL | CAP.COMPRESS | CAP.CONNECT_WITH_DB)) >>> 0;
    if (request.database) flags |= CAP.CONNECT_WITH_DB;
    let seq = 1;
    if (target.tls) {
      if (!(server.flags & CAP.SSL)) throw fail('unreachable', 'the database does not offer TLS (set tls.mode: disable for a loopback database without it)');
      flags |= CAP.SSL;
      reader.detach();
      raw.write(sslRequest(seq++, flags, request.maxPacket, request.charset));
      const { ca, serverName, client } = target.tls;
      const tls = tlsConnect({
        socket: raw,
        ca,
        servername: serverName,
        rejectUnauthorized: true,
        minVersion: 'TLSv1.2',
        cert: client?.cert,
        key: client?.key,
      });
      await new Promise<void>((resolve, reject) => {
        tls.once('secureConnect', resolve);
        tls.once('error', (err) => reject(certificateRefusal(err, target) ?? fail('unreachable', `TLS to the database failed: ${err.message}`)));
      });
      socket = tls;
      tls.on('error', onSocketError);
      reader = handshakeReader(tls, MAX_HANDSHAKE_PACKET, 'the database');
    }
    const secure = Boolean(target.tls);
    const pluginFor = (name: string): Plugin => {
      if (!SUPPORTED.includes(name))
        throw fail('refused', `the database asks for auth plugin ${name}, which the gateway does not support (${SUPPORTED.join(', ')})`);
      if (name === 'mysql_clear_password' && !secure && !target.loopback)
        throw fail('refused', 'the database asks for a cleartext password over an unencrypted connection');
      const password = request.password ?? '';
      return plugins[name](name === 'caching_sha2_password' ? { overrideIsSecure: secure } : { password })({
        connection: { config: { password, ssl: secure ? {} : undefined } },
        command: {},
      });
    };
    const answer = async (plugin: Plugin, data: Buffer): Promise<Buffer | null> => {
      const out = await plugin(data);
      return out === null ? null : Buffer.isBuffer(out) ? out : Buffer.from(out, 'utf8');
    };
    let plugin = pluginFor(server.authPlugin);
    socket.write(
      handshakeResponse(seq++, {
        flags,
        maxPacket: request.maxPacket,
        charset: request.charset,
        user: request.user,
        database: request.database,
        authPlugin: server.authPlugin,
        token: (await answer(plugin, server.scramble)) ?? Buffer.alloc(0),
        attributes: request.attributes,
      }),
    );
    for (;;) {
      const p = await reader.next();
      seq = p.seq + 1;
      const kind = p.payload[0];
      if (kind === 0x00) {
        const ok = new PayloadReader(p.payload);
        ok.uint(1);
        ok.lenenc();
        ok.lenenc();
        const status = ok.uint(2) ?? 0;
        const rest = reader.detach();
        if (rest.length) throw fail('refused', 'the database sent data after its OK');
        raw.off('error', onSocketError);
        socket.off('error', onSocketError);
        return { socket, threadId: server.threadId, status, flags };
      }
      if (kind === 0xff) {
        const e = serverError(p.payload);
        throw fail('refused', `the database refused the sign-in: ${e.message} (${e.code})`, e.sqlstate);
      }
      let out: Buffer | null;
      if (kind === 0xfe) {
        // AuthSwitchRequest: another plugin, with fresh data.
        const r = new PayloadReader(p.payload);
        r.uint(1);
        const name = r.nulString();
        const data = r.rest();
        plugin = pluginFor(name);
        out = await answer(plugin, data[data.length - 1] === 0 ? data.subarray(0, -1) : data);
      } else if (kind === 0x01) {
        out = await answer(plugin, p.payload.subarray(1)); // AuthMoreData
      } else throw fail('refused', `unexpected packet 0x${kind?.toString(16)} during the sign-in`);
      if (out) socket.write(packet(seq, out));
    }
  } catch (err) {
    socket.destroy();
    raw.destroy();
    if (err instanceof UpstreamError) throw err;
    // Over TLS 1.3 the server judges the client's certificate after the client's handshake is done: its alert arrives here.
    const cause = socketError ?? (err as Error);
    throw certificateRefusal(cause, target) ?? fail('unreachable', `the database sign-in failed: ${cause.message}`);
  } finally {
    clearTimeout(timer);
  }
}

/** `KILL QUERY <thread>` on a fresh connection as the same db user: stops a running statement (the server would not notice a closed socket until it writes). */
export async function killUpstreamQuery(target: UpstreamTarget, request: SignInRequest, threadId: number, timeoutMs: number): Promise<void> {
  const { socket } = await signInMysql(target, { ...request, database: '', flags: request.flags & ~CAP.MULTI_STATEMENTS }, timeoutMs);
  await new Promise<void>((resolve) => {
    socket.once('data', () => (socket.destroy(), resolve()));
    socket.once('close', () => resolve());
    socket.once('error', () => resolve());
    socket.write(packet(0, Buffer.concat([Buffer.from([0x03]), Buffer.from(`KILL QUERY ${threadId}`)])));
    setTimeout(() => (socket.destroy(), resolve()), timeoutMs).unref();
  });
}
