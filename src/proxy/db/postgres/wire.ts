/**
 * PostgreSQL message framing, for both directions once the startup is done: a type byte and an
 * int32 length that counts itself. Bytes are never copied on their way through; only the bodies
 * of the types a caller asks for are kept, and only up to a cap (a 50 MB COPY is never buffered).
 */

export class ProtocolError extends Error {}

/** One message the framer saw: its type, its body (or the first `maxCapture` bytes of it), its length. */
export interface Frame {
  type: number;
  body: Buffer;
  /** Body length as the message declared it. */
  length: number;
  /** The body is longer than what was kept. */
  cut: boolean;
}

const EMPTY = Buffer.alloc(0);

export class MessageFramer {
  private readonly header = Buffer.alloc(5);
  private headerLen = 0;
  private inBody = false;
  private type = 0;
  private length = 0;
  private remaining = 0;
  private capturing = false;
  private parts: Buffer[] = [];
  private captured = 0;

  constructor(
    private readonly capture: (type: number) => boolean,
    private readonly maxCapture: number,
    private readonly onFrame: (frame: Frame) => void,
  ) {}

  /** True between messages: something may be injected into the stream here without breaking it. */
  atBoundary(): boolean {
    return !this.inBody && this.headerLen === 0;
  }

  push(chunk: Buffer): void {
    let i = 0;
    while (i < chunk.length) {
      if (!this.inBody) {
        let type: number;
        let len: number;
        if (this.headerLen === 0 && chunk.length - i >= 5) {
          type = chunk[i];
          len = chunk.readInt32BE(i + 1);
          i += 5;
        } else {
          const take = Math.min(5 - this.headerLen, chunk.length - i);
          chunk.copy(this.header, this.headerLen, i, i + take);
          this.headerLen += take;
          i += take;
          if (this.headerLen < 5) return;
          this.headerLen = 0;
          type = this.header[0];
          len = this.header.readInt32BE(1);
        }
        if (len < 4) throw new ProtocolError(`invalid message length ${len}`);
        this.start(type, len - 4);
        if (this.remaining === 0) this.finish();
        continue;
      }
      const take = Math.min(this.remaining, chunk.length - i);
      if (this.capturing && this.captured < this.maxCapture) {
        const n = Math.min(take, this.maxCapture - this.captured);
        this.parts.push(chunk.subarray(i, i + n));
        this.captured += n;
      }
      i += take;
      this.remaining -= take;
      if (this.remaining === 0) this.finish();
    }
  }

  private start(type: number, length: number) {
    this.inBody = true;
    this.type = type;
    this.length = length;
    this.remaining = length;
    this.capturing = this.capture(type);
    this.parts = [];
    this.captured = 0;
  }

  private finish() {
    this.inBody = false;
    if (!this.capturing) return;
    const body = this.parts.length === 0 ? EMPTY : this.parts.length === 1 ? this.parts[0] : Buffer.concat(this.parts);
    this.parts = [];
    this.onFrame({ type: this.type, body, length: this.length, cut: this.captured < this.length });
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
