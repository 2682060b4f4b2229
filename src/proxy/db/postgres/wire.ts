/**
 * PostgreSQL message framing, for both directions once the startup is done: a type byte and an
 * int32 length that counts itself. Bytes are never copied on their way through; only the bodies
 * of the types a caller asks for are kept, and only up to a cap (a 50 MB COPY is never buffered).
 */

import { EMPTY, Framer, ProtocolError, type HeaderFormat } from '../framer.js';

/** One message the framer saw: its type, its body (or the first `maxCapture` bytes of it), its length. */
export interface Frame {
  type: number;
  body: Buffer;
  /** Body length as the message declared it. */
  length: number;
  /** The body is longer than what was kept. */
  cut: boolean;
}

/** A message header: type byte, int32 length that counts itself. */
const MESSAGE_HEADER: HeaderFormat = {
  length: 5,
  tag: (header, at) => header[at],
  bodyLength: (header, at) => {
    const len = header.readInt32BE(at + 1);
    if (len < 4) throw new ProtocolError(`invalid message length ${len}`);
    return len - 4;
  },
};

/** Frames a stream into messages; `onFrame` gets those of the types `capture` keeps. */
export class MessageFramer extends Framer {
  constructor(capture: (type: number) => boolean, maxCapture: number, onFrame: (frame: Frame) => void) {
    super(MESSAGE_HEADER, capture, maxCapture, (type, body, length, cut) => onFrame({ type, body, length, cut }));
  }
}

/** Reads a message body, tolerating a body cut short by the capture cap: reads past the end return what there is. */
export class BodyReader {
  private offset = 0;
  /** Set once a read ran past the end of the kept bytes. */
  cut = false;

  constructor(private readonly body: Buffer) {}

  cstring(): string {
    const end = this.body.indexOf(0, this.offset);
    if (end < 0) {
      this.cut = true;
      const rest = this.body.toString('utf8', this.offset);
      this.offset = this.body.length;
      return rest;
    }
    const value = this.body.toString('utf8', this.offset, end);
    this.offset = end + 1;
    return value;
  }

  int16(): number | undefined {
    if (this.offset + 2 > this.body.length) return void (this.cut = true);
    const v = this.body.readInt16BE(this.offset);
    this.offset += 2;
    return v;
  }

  int32(): number | undefined {
    if (this.offset + 4 > this.body.length) return void (this.cut = true);
    const v = this.body.readInt32BE(this.offset);
    this.offset += 4;
    return v;
  }

  /** Up to `n` bytes (fewer when cut). */
  bytes(n: number): Buffer {
    const end = Math.min(this.body.length, this.offset + n);
    if (end < this.offset + n) this.cut = true;
    const value = this.body.subarray(this.offset, end);
    this.offset = end;
    return value;
  }

  get done(): boolean {
    return this.offset >= this.body.length;
  }
}

/** A typed message: type byte, length, body. */
export function message(type: string, body: Buffer = EMPTY): Buffer {
  const out = Buffer.alloc(5 + body.length);
  out[0] = type.charCodeAt(0);
  out.writeInt32BE(4 + body.length, 1);
  body.copy(out, 5);
  return out;
}

export const cstr = (s: string): Buffer => Buffer.concat([Buffer.from(s, 'utf8'), Buffer.from([0])]);

export const int32 = (n: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeInt32BE(n);
  return b;
};
