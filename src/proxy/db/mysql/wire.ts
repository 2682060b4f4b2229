/**
 * MySQL packet framing (the client/server protocol, both directions): a 3-byte little-endian
 * payload length, a sequence id, the payload. A payload of 0xFFFFFF bytes continues in the next
 * packet. Bytes are never copied on their way through; a framer keeps only the first bytes of
 * each payload, up to a cap (a multi-megabyte INSERT is never buffered).
 */

import { EMPTY, Framer, type HeaderFormat } from '../framer.js';

/** Payloads of this length continue in the next packet. */
export const MAX_PAYLOAD = 0xffffff;

/** One packet the framer saw: its sequence id, the first bytes of its payload, its length. */
export interface Packet {
  seq: number;
  /** The payload, or its first `maxCapture` bytes. */
  head: Buffer;
  length: number;
  /** The payload is longer than `head`. */
  cut: boolean;
}

/** A packet header: 3-byte little-endian payload length, sequence id. */
const PACKET_HEADER: HeaderFormat = {
  length: 4,
  tag: (header, at) => header[at + 3],
  bodyLength: (header, at) => header.readUIntLE(at, 3),
};

/** Frames a stream into packets; `onPacket` gets each one once its payload (or the captured part of it) has passed. */
export class PacketFramer extends Framer {
  constructor(maxCapture: number, onPacket: (packet: Packet) => void) {
    super(
      PACKET_HEADER,
      () => true,
      maxCapture,
      (seq, head, length, cut) => onPacket({ seq, head, length, cut }),
    );
  }
}

/** A packet with this sequence id and payload. */
export function packet(seq: number, payload: Buffer): Buffer {
  const out = Buffer.alloc(4 + payload.length);
  out.writeUIntLE(payload.length, 0, 3);
  out[3] = seq & 0xff;
  payload.copy(out, 4);
  return out;
}

/** A length-encoded integer. */
export function lenenc(n: number): Buffer {
  if (n < 251) return Buffer.from([n]);
  if (n < 0x10000) return Buffer.from([0xfc, n & 0xff, n >> 8]);
  if (n < 0x1000000) return Buffer.from([0xfd, n & 0xff, (n >> 8) & 0xff, n >> 16]);
  const b = Buffer.alloc(9);
  b[0] = 0xfe;
  b.writeBigUInt64LE(BigInt(n), 1);
  return b;
}

export const lenencBytes = (b: Buffer): Buffer => Buffer.concat([lenenc(b.length), b]);
export const nulString = (s: string): Buffer => Buffer.concat([Buffer.from(s, 'utf8'), Buffer.from([0])]);

/** An ERR packet: error number, SQLSTATE and message, as the client shows them (`ERROR 1045 (28000): …`). */
export function errPacket(seq: number, code: number, sqlstate: string, message: string): Buffer {
  const head = Buffer.alloc(9);
  head[0] = 0xff;
  head.writeUInt16LE(code, 1);
  head.write(`#${sqlstate}`, 3, 'latin1');
  return packet(seq, Buffer.concat([head, Buffer.from(message, 'utf8')]));
}

/** An OK packet (PROTOCOL_41): no rows affected, this server status. */
export function okPacket(seq: number, status: number): Buffer {
  const tail = Buffer.alloc(4);
  tail.writeUInt16LE(status, 0);
  return packet(seq, Buffer.concat([Buffer.from([0, 0, 0]), tail]));
}

/** Reads a payload, tolerating one cut short by the capture cap: reads past the end return what there is and set `cut`. */
export class PayloadReader {
  offset = 0;
  cut = false;

  constructor(readonly payload: Buffer) {}

  get left(): number {
    return this.payload.length - this.offset;
  }

  uint(n: 1 | 2 | 3 | 4): number | undefined {
    if (this.offset + n > this.payload.length) return void ((this.cut = true), (this.offset = this.payload.length));
    const v = this.payload.readUIntLE(this.offset, n);
    this.offset += n;
    return v;
  }

  /** A length-encoded integer (undefined for the NULL marker 0xFB, or when cut). */
  lenenc(): number | undefined {
    const first = this.uint(1);
    if (first === undefined || first === 0xfb) return undefined;
    if (first < 0xfb) return first;
    if (first === 0xfc) return this.uint(2);
    if (first === 0xfd) return this.uint(3);
    const bytes = this.bytes(8);
    return bytes.length === 8 ? Number(bytes.readBigUInt64LE(0)) : undefined;
  }

  /** Up to `n` bytes (fewer when cut). */
  bytes(n: number): Buffer {
    const end = Math.min(this.payload.length, this.offset + n);
    if (end < this.offset + n) this.cut = true;
    const value = this.payload.subarray(this.offset, end);
    this.offset = end;
    return value;
  }

  /** A NUL-terminated string (to the end when there is no NUL). */
  nulString(): string {
    const end = this.payload.indexOf(0, this.offset);
    const stop = end < 0 ? this.payload.length : end;
    const value = this.payload.toString('utf8', this.offset, stop);
    this.offset = end < 0 ? stop : end + 1;
    return value;
  }

  /** A length-encoded string's bytes. */
  lenencBytes(): Buffer {
    const n = this.lenenc();
    return n === undefined ? EMPTY : this.bytes(n);
  }

  rest(): Buffer {
    return this.bytes(this.left);
  }
}
