import { randomBytes } from 'node:crypto';
import { lenenc, lenencBytes, nulString, packet, PayloadReader } from './wire.js';
import { ProtocolError } from '../framer.js';

/*
 * The connection phase, both ways: the gateway's Initial Handshake (protocol 10) to the client
 * and the client's SSLRequest and HandshakeResponse41; the server's handshake to the gateway and
 * the gateway's HandshakeResponse41 to it.
 */

export const CAP = {
  LONG_PASSWORD: 0x1, // also CLIENT_MYSQL: a MySQL-style server, no MariaDB extended capabilities
  FOUND_ROWS: 0x2,
  LONG_FLAG: 0x4,
  CONNECT_WITH_DB: 0x8,
  NO_SCHEMA: 0x10,
  COMPRESS: 0x20,
  ODBC: 0x40,
  LOCAL_FILES: 0x80,
  IGNORE_SPACE: 0x100,
  PROTOCOL_41: 0x200,
  INTERACTIVE: 0x400,
  SSL: 0x800,
  TRANSACTIONS: 0x2000,
  SECURE_CONNECTION: 0x8000,
  MULTI_STATEMENTS: 0x10000,
  MULTI_RESULTS: 0x20000,
  PS_MULTI_RESULTS: 0x40000,
  PLUGIN_AUTH: 0x80000,
  CONNECT_ATTRS: 0x100000,
  PLUGIN_AUTH_LENENC: 0x200000,
  DEPRECATE_EOF: 0x1000000,
} as const;

/**
 * What the gateway offers a client. Left out on purpose: compression, DEPRECATE_EOF, session
 * tracking and query attributes (they change the format of results and commands that the relay
 * reads), and MariaDB's extended capabilities (CLIENT_MYSQL is set).
 */
export const OFFERED =
  CAP.LONG_PASSWORD |
  CAP.FOUND_ROWS |
  CAP.LONG_FLAG |
  CAP.CONNECT_WITH_DB |
  CAP.NO_SCHEMA |
  CAP.ODBC |
  CAP.LOCAL_FILES |
  CAP.IGNORE_SPACE |
  CAP.PROTOCOL_41 |
  CAP.INTERACTIVE |
  CAP.SSL |
  CAP.TRANSACTIONS |
  CAP.SECURE_CONNECTION |
  CAP.MULTI_STATEMENTS |
  CAP.MULTI_RESULTS |
  CAP.PS_MULTI_RESULTS |
  CAP.PLUGIN_AUTH |
  CAP.CONNECT_ATTRS |
  CAP.PLUGIN_AUTH_LENENC;

/** "MariaDB" in the version makes drivers (mysql2) keep to what both MariaDB and MySQL accept; `5.5.5-` is MariaDB's replication-safe prefix. */
const GREETING_VERSION = '5.5.5-10.11.0-MariaDB-Gatehouse';
const UTF8MB4_GENERAL_CI = 45;
const SERVER_STATUS_AUTOCOMMIT = 0x2;

/** The gateway's Initial Handshake: its connection id, a fresh scramble (the client's answer to it is not used: the certificate authenticates). */
export function greeting(connectionId: number): Buffer {
  const scramble = randomBytes(20).map((b) => (b % 94) + 33); // printable, no NUL
  const caps = Buffer.alloc(4);
  caps.writeUInt32LE(OFFERED);
  const id = Buffer.alloc(4);
  id.writeUInt32LE(connectionId);
  const status = Buffer.alloc(2);
  status.writeUInt16LE(SERVER_STATUS_AUTOCOMMIT);
  return packet(
    0,
    Buffer.concat([
      Buffer.from([10]),
      nulString(GREETING_VERSION),
      id,
      scramble.subarray(0, 8),
      Buffer.from([0]),
      caps.subarray(0, 2),
      Buffer.from([UTF8MB4_GENERAL_CI]),
      status,
      caps.subarray(2, 4),
      Buffer.from([21]),
      Buffer.alloc(10),
      scramble.subarray(8),
      Buffer.from([0]),
      nulString('mysql_native_password'),
    ]),
  );
}

/** The client's HandshakeResponse41 (or, when it stops after the fixed part with CLIENT_SSL, an SSLRequest). */
export interface ClientHello {
  flags: number;
  maxPacket: number;
  charset: number;
  /** Just the 32-byte fixed part with CLIENT_SSL: the client asks for TLS. */
  sslRequest: boolean;
  user: string;
  database: string;
  authPlugin: string;
  /** Connection attributes, in order. */
  attributes: [string, string][];
}

export function parseClientHello(payload: Buffer): ClientHello {
  if (payload.length < 32) throw new ProtocolError('handshake response too short (a client of protocol 4.1 or later is required)');
  const r = new PayloadReader(payload);
  const flags = r.uint(4)!;
  if (!(flags & CAP.PROTOCOL_41)) throw new ProtocolError('the client does not speak protocol 4.1');
  const maxPacket = r.uint(4)!;
  const charset = r.uint(1)!;
  r.bytes(23);
  const hello: ClientHello = { flags, maxPacket, charset, sslRequest: false, user: '', database: '', authPlugin: '', attributes: [] };
  if (r.left === 0) {
    if (!(flags & CAP.SSL)) throw new ProtocolError('handshake response without a user');
    return { ...hello, sslRequest: true };
  }
  hello.user = r.nulString();
  if (flags & CAP.PLUGIN_AUTH_LENENC) r.lenencBytes();
  else if (flags & CAP.SECURE_CONNECTION) r.bytes(r.uint(1) ?? 0);
  else r.nulString();
  if (flags & CAP.CONNECT_WITH_DB && r.left > 0) hello.database = r.nulString();
  if (flags & CAP.PLUGIN_AUTH && r.left > 0) hello.authPlugin = r.nulString();
  if (flags & CAP.CONNECT_ATTRS && r.left > 0) {
    const attrs = new PayloadReader(r.lenencBytes());
    while (attrs.left > 0 && !attrs.cut) hello.attributes.push([attrs.lenencBytes().toString('utf8'), attrs.lenencBytes().toString('utf8')]);
  }
  if (r.cut) throw new ProtocolError('handshake response cut short');
  return hello;
}

/** The server's Initial Handshake, as the gateway's sign-in needs it. */
export interface ServerHello {
  version: string;
  threadId: number;
  flags: number;
  /** The 20-byte scramble (both parts, no trailing NUL). */
  scramble: Buffer;
  authPlugin: string;
}

export function parseServerHello(payload: Buffer): ServerHello {
  const r = new PayloadReader(payload);
  const protocol = r.uint(1);
  if (protocol !== 10) throw new ProtocolError(`the server speaks handshake protocol ${protocol}, not 10`);
  const version = r.nulString();
  const threadId = r.uint(4)!;
  const part1 = r.bytes(8);
  r.bytes(1);
  let flags = r.uint(2) ?? 0;
  r.uint(1); // charset
  r.uint(2); // status
  flags |= (r.uint(2) ?? 0) << 16;
  flags >>>= 0;
  const dataLength = r.uint(1) ?? 0;
  r.bytes(10);
  const part2 = flags & CAP.SECURE_CONNECTION ? r.bytes(Math.max(13, dataLength - 8)) : Buffer.alloc(0);
  const authPlugin = flags & CAP.PLUGIN_AUTH ? r.nulString() : 'mysql_native_password';
  if (r.cut) throw new ProtocolError('the server handshake is cut short');
  const scramble = Buffer.concat([part1, part2]);
  return { version, threadId, flags, scramble: scramble[scramble.length - 1] === 0 ? scramble.subarray(0, -1) : scramble, authPlugin };
}

/** The fixed part of a HandshakeResponse41 (all of an SSLRequest). */
function fixedPart(flags: number, maxPacket: number, charset: number): Buffer {
  const b = Buffer.alloc(32);
  b.writeUInt32LE(flags >>> 0, 0);
  b.writeUInt32LE(maxPacket >>> 0, 4);
  b[8] = charset;
  return b;
}

export const sslRequest = (seq: number, flags: number, maxPacket: number, charset: number): Buffer => packet(seq, fixedPart(flags, maxPacket, charset));

/** The gateway's HandshakeResponse41 to the server. */
export function handshakeResponse(
  seq: number,
  o: { flags: number; maxPacket: number; charset: number; user: string; database: string; authPlugin: string; token: Buffer; attributes: [string, string][] },
): Buffer {
  const parts = [fixedPart(o.flags, o.maxPacket, o.charset), nulString(o.user), lenencBytes(o.token)];
  if (o.flags & CAP.CONNECT_WITH_DB) parts.push(nulString(o.database));
  parts.push(nulString(o.authPlugin));
  if (o.flags & CAP.CONNECT_ATTRS) {
    const attrs = Buffer.concat(o.attributes.flatMap(([k, v]) => [lenencBytes(Buffer.from(k, 'utf8')), lenencBytes(Buffer.from(v, 'utf8'))]));
    parts.push(lenenc(attrs.length), attrs);
  }
  return packet(seq, Buffer.concat(parts));
}
