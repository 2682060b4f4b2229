import { createRequire } from 'node:module';
import { connect as tcpConnect, type Socket } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { serialize } from 'pg-protocol';
import { Parser } from 'pg-protocol/dist/parser.js';
import type { BackendMessage } from 'pg-protocol/dist/messages.js';
import { PROTOCOL_3_0, SSL_REQUEST } from './frontend.js';
import { cstr, int32 } from './wire.js';

/*
 * The gateway's own connection to a PostgreSQL server: TCP, TLS when configured (verify-full:
 * the CA and the host name), then the startup as the requested db user, answering the server's
 * authentication request with the configured password: SCRAM-SHA-256 (with channel binding over
 * TLS when the server offers it), md5, or cleartext (TLS or loopback only), or with a client
 * certificate presented in the TLS handshake (the server's `cert` auth asks for no password).
 * SCRAM is node-postgres's own implementation (pg/lib/crypto/sasl.js), which also checks the server's signature.
 */

interface ScramSession {
  mechanism: string;
  response: string;
}
const require = createRequire(import.meta.url);
const sasl = require('pg/lib/crypto/sasl.js') as {
  startSession(mechanisms: string[], stream?: TLSSocket): ScramSession;
  continueSession(session: ScramSession, password: string, serverData: string, stream?: TLSSocket): Promise<void>;
  finalizeSession(session: ScramSession, serverData: string): void;
};
const { postgresMd5PasswordHash } = require('pg/lib/crypto/utils.js') as {
  postgresMd5PasswordHash(user: string, password: string, salt: Buffer): Promise<string>;
};

export interface UpstreamTarget {
  host: string;
  port: number;
  /** Absent: plain TCP (loopback only, the config enforces it). */
  tls?: { ca?: string; serverName: string; client?: ClientCert };
  loopback: boolean;
}

/** The certificate the gateway presents to the database as one db user (PEM, read from cert_file and key_file). */
export interface ClientCert {
  cert: string;
  key: string;
  /** For messages: where the certificate came from. */
  certFile: string;
}

/** Why the upstream could not be used: unreachable (network, TLS) or refused (authentication, or an ErrorResponse). */
export class UpstreamError extends Error {
  constructor(
    readonly kind: 'unreachable' | 'refused',
    message: string,
    /** The server's SQLSTATE, when it answered with an error. */
    readonly sqlstate?: string,
  ) {
    super(message);
  }
}

/** TLS alerts a server sends about the client's certificate: a sign-in refusal, not an unreachable server. */
const CERT_ALERT = /^ERR_SSL_(?:SSLV3|TLSV1|TLSV13)_ALERT_(?:UNKNOWN_CA|BAD_CERTIFICATE|UNSUPPORTED_CERTIFICATE|CERTIFICATE_\w+|ACCESS_DENIED)$/;

/** A refusal when `err` is the server rejecting the gateway's client certificate (or asking for one); else undefined. */
export function certificateRefusal(err: Error, target: UpstreamTarget): UpstreamError | undefined {
  if (!CERT_ALERT.test((err as NodeJS.ErrnoException).code ?? '')) return undefined;
  const client = target.tls?.client;
  const what = client ? `the gateway's client certificate (${client.certFile})` : 'the connection without a client certificate';
  return new UpstreamError('refused', `the database refused ${what} in the TLS handshake: ${err.message}`, '28000');
}

/** A connected (and, when configured, TLS-verified) socket to the server. */
export async function openUpstream(target: UpstreamTarget, timeoutMs: number): Promise<Socket | TLSSocket> {
  const socket = tcpConnect({ host: target.host, port: target.port });
  socket.setNoDelay(true);
  const timer = setTimeout(() => socket.destroy(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    if (!target.tls) return socket;
    const { ca, serverName, client } = target.tls;
    const answer = await new Promise<Buffer>((resolve, reject) => {
      socket.once('data', resolve);
      socket.once('close', () => reject(new Error('the server closed the connection')));
      socket.write(Buffer.concat([int32(8), int32(SSL_REQUEST)]));
    });
    if (answer.length !== 1 || answer[0] !== 0x53) throw new Error('the server does not offer TLS');
    socket.removeAllListeners('close');
    const tls = tlsConnect({ socket, ca, servername: serverName, rejectUnauthorized: true, minVersion: 'TLSv1.2', cert: client?.cert, key: client?.key });
    await new Promise<void>((resolve, reject) => {
      tls.once('secureConnect', resolve);
      tls.once('error', reject);
    });
    return tls;
  } catch (err) {
    socket.destroy();
    throw (
      certificateRefusal(err as Error, target) ??
      new UpstreamError('unreachable', `cannot reach the database at ${target.host}:${target.port}: ${(err as Error).message}`)
    );
  } finally {
    clearTimeout(timer);
  }
}

export interface SignedIn {
  /** ParameterStatus values, in the order the server sent them. */
  parameters: [string, string][];
  key: { pid: number; secret: number };
  /** ReadyForQuery's transaction status. */
  status: string;
}

/** Starts the session as `params.user` and authenticates; resolves at the first ReadyForQuery. */
export function signIn(socket: Socket | TLSSocket, params: Record<string, string>, password: string | undefined, target: UpstreamTarget): Promise<SignedIn> {
  const tls = target.tls ? (socket as TLSSocket) : undefined;
  const user = params.user;
  return new Promise<SignedIn>((resolve, reject) => {
    const parser = new Parser();
    const parameters: [string, string][] = [];
    let key = { pid: 0, secret: 0 };
    let scram: ScramSession | undefined;
    // Answers go out in order although SCRAM steps are asynchronous.
    let queue = Promise.resolve();
    const fail = (err: UpstreamError) => {
      cleanup();
      reject(err);
    };
    const needPassword = (): string => {
      if (password === undefined) throw new UpstreamError('refused', `the database asks for a password and none is configured for db user "${user}"`);
      return password;
    };
    const step = (fn: () => Promise<void> | void) => {
      queue = queue.then(fn).catch((err: unknown) => fail(err instanceof UpstreamError ? err : new UpstreamError('refused', (err as Error).message)));
    };
    const onMessage = (msg: BackendMessage) => {
      const m = msg as BackendMessage & Record<string, unknown>;
      switch (msg.name) {
        case 'authenticationOk':
          return;
        case 'authenticationCleartextPassword':
          return step(() => {
            if (!tls && !target.loopback) throw new UpstreamError('refused', 'the database asks for a cleartext password over an unencrypted connection');
            socket.write(serialize.password(needPassword()));
          });
        case 'authenticationMD5Password':
          return step(async () => void socket.write(serialize.password(await postgresMd5PasswordHash(user, needPassword(), m.salt as Buffer))));
        case 'authenticationSASL':
          return step(() => {
            needPassword();
            scram = sasl.startSession(m.mechanisms as string[], tls);
            socket.write(serialize.sendSASLInitialResponseMessage(scram.mechanism, scram.response));
          });
        case 'authenticationSASLContinue':
          return step(async () => {
            if (!scram) throw new UpstreamError('refused', 'unexpected SASL continue');
            await sasl.continueSession(scram, needPassword(), m.data as string, tls);
            socket.write(serialize.sendSCRAMClientFinalMessage(scram.response));
          });
        case 'authenticationSASLFinal':
          return step(() => {
            if (!scram) throw new UpstreamError('refused', 'unexpected SASL final');
            sasl.finalizeSession(scram, m.data as string);
          });
        case 'parameterStatus':
          parameters.push([m.parameterName as string, m.parameterValue as string]);
          return;
        case 'backendKeyData':
          key = { pid: m.processID as number, secret: m.secretKey as number };
          return;
        case 'readyForQuery':
          return step(() => {
            cleanup();
            resolve({ parameters, key, status: m.status as string });
          });
        case 'error':
          return step(() => {
            throw new UpstreamError('refused', `the database refused the sign-in: ${m.message as string}`, m.code as string | undefined);
          });
        default:
          return; // notices
      }
    };
    const onData = (chunk: Buffer) => {
      try {
        parser.parse(chunk, onMessage);
      } catch (err) {
        fail(new UpstreamError('refused', `the database sent a malformed message: ${(err as Error).message}`));
      }
    };
    const onClose = () => fail(new UpstreamError('unreachable', 'the database closed the connection during sign-in'));
    // Over TLS 1.3 the server judges the client's certificate after the client's handshake is done: its alert arrives here.
    const onError = (err: Error) => fail(certificateRefusal(err, target) ?? new UpstreamError('unreachable', `the database connection failed: ${err.message}`));
    const cleanup = () => {
      socket.off('data', onData);
      socket.off('close', onClose);
      socket.off('error', onError);
    };
    socket.on('data', onData);
    socket.once('close', onClose);
    socket.once('error', onError);
    socket.write(startupMessage(params));
  });
}

/** A StartupMessage with exactly these parameters (pg-protocol's would add client_encoding=UTF8 over the client's own). */
function startupMessage(params: Record<string, string>): Buffer {
  const body = Buffer.concat([int32(PROTOCOL_3_0), ...Object.entries(params).flatMap(([k, v]) => [cstr(k), cstr(v)]), Buffer.from([0])]);
  return Buffer.concat([int32(body.length + 4), body]);
}

/** Sends a CancelRequest for the server's own key over a fresh connection, as PostgreSQL expects. */
export async function sendCancel(target: UpstreamTarget, key: { pid: number; secret: number }, timeoutMs: number): Promise<void> {
  const socket = await openUpstream(target, timeoutMs);
  await new Promise<void>((resolve) => {
    socket.once('close', () => resolve());
    socket.once('error', () => resolve());
    socket.end(serialize.cancel(key.pid, key.secret));
    setTimeout(() => socket.destroy(), timeoutMs).unref();
  });
}
