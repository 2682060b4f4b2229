import type { Socket } from 'node:net';
import { ProtocolError } from '../framer.js';
import { PacketReader } from '../packet-reader.js';
import { BodyReader } from './wire.js';

/*
 * The frontend (client) side of the PostgreSQL protocol, which pg-protocol does not parse:
 * - startup packets (no type byte): SSLRequest, GSSENCRequest, CancelRequest, StartupMessage,
 *   refused when the declared length is over STARTUP_MAX before any of it is buffered;
 * - Query, Parse, Bind, Execute and Close, decoded for the audit from bodies that may be cut.
 */

/** PostgreSQL's own limit for a startup packet (MAX_STARTUP_PACKET_LENGTH). */
export const STARTUP_MAX = 10_000;
export const SSL_REQUEST = 80877103;
export const GSSENC_REQUEST = 80877104;
export const CANCEL_REQUEST = 80877102;
export const PROTOCOL_3_0 = 196608;
const TLS_HANDSHAKE_RECORD = 0x16;
/** The ALPN protocol PostgreSQL 17 clients offer, and require, with direct TLS. */
export const POSTGRES_ALPN = 'postgresql';

export type StartupPacket =
  | { kind: 'tls' }
  | { kind: 'ssl' }
  | { kind: 'gssenc' }
  | { kind: 'cancel'; pid: number; secret: number }
  | { kind: 'startup'; params: Record<string, string> };

/** Reads startup packets off a socket, one at a time (an SSLRequest followed by anything is refused by the caller: plaintext bytes must never be read as if they came through TLS). */
export const startupReader = (socket: Socket): PacketReader<StartupPacket> =>
  new PacketReader(socket, readStartupPacket, 'the client closed the connection during the startup');

/** The startup packet at the front of `buf`, with the bytes it used; undefined until it is all there. Throws ProtocolError. */
export function readStartupPacket(buf: Buffer): { packet: StartupPacket; used: number } | undefined {
  // A TLS handshake record (PostgreSQL 17's sslnegotiation=direct): no startup packet is that long, so the first byte tells. It is left for the TLS layer.
  if (buf[0] === TLS_HANDSHAKE_RECORD) return { packet: { kind: 'tls' }, used: 0 };
  if (buf.length < 4) return undefined;
  const len = buf.readInt32BE(0);
  if (len < 8 || len > STARTUP_MAX) throw new ProtocolError(`invalid startup packet length ${len} (at most ${STARTUP_MAX} bytes)`);
  if (buf.length < len) return undefined;
  const code = buf.readInt32BE(4);
  const fixed = (kind: 'ssl' | 'gssenc', expected: number) => {
    if (len !== expected) throw new ProtocolError(`invalid ${kind} request length ${len}`);
    return { packet: { kind }, used: len };
  };
  if (code === SSL_REQUEST) return fixed('ssl', 8);
  if (code === GSSENC_REQUEST) return fixed('gssenc', 8);
  if (code === CANCEL_REQUEST) {
    if (len !== 16) throw new ProtocolError(`invalid cancel request length ${len}`);
    return { packet: { kind: 'cancel', pid: buf.readInt32BE(8), secret: buf.readInt32BE(12) }, used: len };
  }
  if (code !== PROTOCOL_3_0) throw new ProtocolError(`unsupported frontend protocol ${code >> 16}.${code & 0xffff} (the gateway speaks 3.0)`);
  const params: Record<string, string> = {};
  const body = buf.subarray(8, len);
  let offset = 0;
  for (;;) {
    const keyEnd = body.indexOf(0, offset);
    if (keyEnd < 0) throw new ProtocolError('invalid startup packet: unterminated parameter list');
    if (keyEnd === offset) break;
    const valueEnd = body.indexOf(0, keyEnd + 1);
    if (valueEnd < 0) throw new ProtocolError('invalid startup packet: unterminated parameter value');
    params[body.toString('utf8', offset, keyEnd)] = body.toString('utf8', keyEnd + 1, valueEnd);
    offset = valueEnd + 1;
  }
  if (offset + 1 !== body.length) throw new ProtocolError('invalid startup packet: bytes after the parameter list');
  if (!params.user) throw new ProtocolError('no PostgreSQL user name specified in startup packet');
  return { packet: { kind: 'startup', params }, used: len };
}

/** A Bind parameter: text, binary (shown as hex), or SQL NULL; `cut` when only a prefix was kept. */
export interface BindParameter {
  value: string | null;
  format: 'text' | 'binary';
  cut: boolean;
}

export type FrontendMessage =
  | { type: 'query'; text: string; cut: boolean }
  | { type: 'parse'; name: string; text: string; cut: boolean }
  | { type: 'bind'; portal: string; statement: string; params: BindParameter[]; cut: boolean }
  | { type: 'execute'; portal: string }
  | { type: 'close'; kind: 'statement' | 'portal'; name: string };

export const Q = 0x51; // Query
export const P = 0x50; // Parse
export const B = 0x42; // Bind
export const E = 0x45; // Execute
export const C = 0x43; // Close

/** The frontend message types the audit decodes. */
export const AUDITED_FRONTEND = (type: number): boolean => type === Q || type === P || type === B || type === E || type === C;

/** Decodes an audited message; `bodyCut` says the body was cut by the capture cap. */
export function decodeFrontend(type: number, body: Buffer, bodyCut: boolean, maxParamBytes: number): FrontendMessage | undefined {
  const r = new BodyReader(body);
  switch (type) {
    case Q: {
      const text = r.cstring();
      return { type: 'query', text, cut: bodyCut && r.cut };
    }
    case P: {
      const name = r.cstring();
      const text = r.cstring();
      return { type: 'parse', name, text, cut: bodyCut && r.cut };
    }
    case B: {
      const portal = r.cstring();
      const statement = r.cstring();
      const nFormats = r.int16() ?? 0;
      const formats: number[] = [];
      for (let i = 0; i < nFormats; i++) formats.push(r.int16() ?? 0);
      const nParams = r.int16() ?? 0;
      const params: BindParameter[] = [];
      for (let i = 0; i < nParams && !r.done; i++) {
        const format = (nFormats === 1 ? formats[0] : (formats[i] ?? 0)) === 1 ? 'binary' : 'text';
        const len = r.int32();
        if (len === undefined) break;
        if (len < 0) {
          params.push({ value: null, format, cut: false });
          continue;
        }
        const kept = Math.min(len, maxParamBytes);
        const bytes = r.bytes(kept);
        // Skip what is not kept (and stop once the cut body runs out).
        r.bytes(len - kept);
        const value = format === 'binary' ? `\\x${bytes.toString('hex')}` : bytes.toString('utf8');
        params.push({ value, format, cut: bytes.length < len });
      }
      return { type: 'bind', portal, statement, params, cut: params.length < nParams };
    }
    case E:
      return { type: 'execute', portal: r.cstring() };
    case C: {
      const kind = r.bytes(1).toString('latin1') === 'S' ? 'statement' : 'portal';
      return { type: 'close', kind, name: r.cstring() };
    }
    default:
      return undefined;
  }
}
