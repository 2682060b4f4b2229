import { readFileSync } from 'node:fs';
import { connect as tcpConnect, type Socket } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import type { Duplex } from 'node:stream';
import { splitHostPort } from '../core/hosts.js';

/*
 * One local connection of `gatehouse db proxy`: plaintext on 127.0.0.1 for a tool that cannot
 * present a certificate, TLS with the person's database certificate from here to the gateway.
 * Each protocol negotiates TLS inside its own handshake, so each has its own splice.
 */

/** What a tunnel needs of the saved `db login`: where the gateway listens and the files. */
export interface TunnelLogin {
  address: string;
  cert: string;
  key: string;
  ca: string;
}

const SSL_REQUEST = 80877103;
const GSSENC_REQUEST = 80877104;
const MYSQL_CLIENT_SSL = 0x800;
/** Handshake packets are a few hundred bytes; anything bigger is not the peer we expect. */
const MAX_HANDSHAKE_PACKET = 65_536;

/** Opens the gateway's port; resolves with the plain socket and the host to verify. */
async function dialGateway(login: TunnelLogin): Promise<{ raw: Socket; host: string }> {
  const [host, port] = splitHostPort(login.address);
  const raw = tcpConnect({ host, port });
  raw.setNoDelay(true);
  await new Promise<void>((resolve, reject) => raw.once('connect', resolve).once('error', reject));
  return { raw, host };
}

/** TLS over a socket whose protocol just agreed to it, with the certificate of the login. */
async function startTls(raw: Socket, host: string, login: TunnelLogin): Promise<TLSSocket> {
  const tls = tlsConnect({ socket: raw, servername: host, ca: readFileSync(login.ca), cert: readFileSync(login.cert), key: readFileSync(login.key) });
  await new Promise<void>((resolve, reject) => tls.once('secureConnect', resolve).once('error', reject));
  return tls;
}

/** Splices the two legs once both handshakes are done; either closing closes the other. */
function splice(local: Socket, remote: TLSSocket): void {
  local.pipe(remote).pipe(local);
  remote.on('error', () => local.destroy());
  local.on('close', () => remote.destroy());
}

const fail = (local: Socket) => (err: unknown) => {
  process.stderr.write(`gatehouse: tunnel: ${(err as Error).message}\n`);
  local.destroy();
};

/**
 * PostgreSQL: the client's SSLRequest or GSSENCRequest is answered "no", then its startup (or
 * cancel) packet and everything after it go to the gateway over TLS.
 */
export function postgresTunnel(local: Socket, login: () => Promise<TunnelLogin>): void {
  let buffered = Buffer.alloc(0);
  let started = false;
  const onData = (chunk: Buffer) => {
    buffered = Buffer.concat([buffered, chunk]);
    while (buffered.length >= 8 && buffered.readInt32BE(0) === 8 && [SSL_REQUEST, GSSENC_REQUEST].includes(buffered.readInt32BE(4))) {
      local.write('N');
      buffered = buffered.subarray(8);
    }
    if (buffered.length >= 8 && !started) {
      started = true;
      local.off('data', onData);
      local.pause();
      start().catch(fail(local));
    }
  };
  const start = async () => {
    const l = await login();
    const { raw, host } = await dialGateway(l);
    const request = Buffer.alloc(8);
    request.writeInt32BE(8, 0);
    request.writeInt32BE(SSL_REQUEST, 4);
    raw.write(request);
    const answer = await new Promise<Buffer>((resolve, reject) => raw.once('data', resolve).once('error', reject));
    if (answer[0] !== 0x53) throw new Error('the gateway refused TLS');
    const tls = await startTls(raw, host, l);
    tls.write(buffered);
    splice(local, tls);
  };
  local.on('data', onData);
  local.on('error', () => local.destroy());
}

/**
 * MySQL/MariaDB: the server speaks first. The gateway's greeting goes to the client without
 * CLIENT_SSL; the client's HandshakeResponse goes to the gateway behind an SSLRequest and TLS,
 * one sequence number later, and the gateway's answer (OK or ERR: it signs people in by their
 * certificate, so there is no auth exchange) comes back one earlier. Commands restart the
 * sequence, so from there on bytes pass unchanged.
 */
export function mysqlTunnel(local: Socket, login: () => Promise<TunnelLogin>): void {
  local.pause();
  local.on('error', () => local.destroy());
  const start = async () => {
    const l = await login();
    const { raw, host } = await dialGateway(l);
    const greeting = await readPacket(raw, 'the gateway');
    local.write(mysqlPacket(0, withoutSsl(greeting.payload)));
    const response = await readPacket(local, 'the client');
    if (response.payload.length < 32) throw new Error('the client sent a short handshake response');
    const flags = (response.payload.readUInt32LE(0) | MYSQL_CLIENT_SSL) >>> 0;
    const hello = Buffer.from(response.payload);
    hello.writeUInt32LE(flags, 0);
    raw.write(mysqlPacket(response.seq, hello.subarray(0, 32))); // the SSLRequest: the response's first 32 bytes
    const tls = await startTls(raw, host, l);
    tls.write(mysqlPacket(response.seq + 1, hello));
    const answer = await readPacket(tls, 'the gateway');
    local.write(mysqlPacket(answer.seq - 1, answer.payload));
    if (answer.payload[0] !== 0x00) return void (local.end(), tls.destroy()); // ERR: the client shows it
    splice(local, tls);
  };
  start().catch(fail(local));
}

function mysqlPacket(seq: number, payload: Buffer): Buffer {
  const header = Buffer.alloc(4);
  header.writeUIntLE(payload.length, 0, 3);
  header[3] = seq & 0xff;
  return Buffer.concat([header, payload]);
}

/** The Initial Handshake (protocol 10) with CLIENT_SSL cleared from its lower capability bytes. */
function withoutSsl(greeting: Buffer): Buffer {
  const versionEnd = greeting.indexOf(0, 1);
  if (greeting[0] !== 10 || versionEnd < 0) throw new Error('the gateway did not greet as a MySQL server');
  const flagsAt = versionEnd + 1 + 4 + 8 + 1; // connection id, auth data part 1, filler
  const out = Buffer.from(greeting);
  out.writeUInt16LE(out.readUInt16LE(flagsAt) & ~MYSQL_CLIENT_SSL, flagsAt);
  return out;
}

/** One whole MySQL packet off a stream; bytes after it are put back. */
function readPacket(stream: Duplex, who: string): Promise<{ seq: number; payload: Buffer }> {
  return new Promise((resolve, reject) => {
    let buffered = Buffer.alloc(0);
    const done = (err?: Error) => {
      stream.off('data', onData);
      stream.off('close', onClose);
      stream.pause();
      if (err) reject(err);
    };
    const onClose = () => done(new Error(`${who} closed the connection during the handshake`));
    const onData = (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      if (buffered.length < 4) return;
      const length = buffered.readUIntLE(0, 3);
      if (length > MAX_HANDSHAKE_PACKET) return done(new Error(`${who} sent a handshake packet of ${length} bytes`));
      if (buffered.length < 4 + length) return;
      done();
      if (buffered.length > 4 + length) stream.unshift(buffered.subarray(4 + length));
      resolve({ seq: buffered[3], payload: buffered.subarray(4, 4 + length) });
    };
    stream.on('data', onData);
    stream.once('close', onClose);
    stream.resume();
  });
}
