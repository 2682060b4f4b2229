/**
 * Header-then-body framing shared by the wire protocols (PostgreSQL messages, MySQL packets): a
 * fixed-length header that gives a tag and a body length, then the body. Bytes are never copied
 * on their way through; only the bodies of the tags a caller asks for are kept, and only up to a
 * cap (a 50 MB COPY or a multi-megabyte INSERT is never buffered).
 */

/** Malformed bytes from a peer: its message is safe to show the client. */
export class ProtocolError extends Error {}

/** How a protocol's header reads: its length, and the tag and body length it gives (either may throw ProtocolError). */
export interface HeaderFormat {
  length: number;
  tag(header: Buffer, at: number): number;
  bodyLength(header: Buffer, at: number): number;
}

export const EMPTY = Buffer.alloc(0);

export class Framer {
  private readonly header: Buffer;
  private headerLen = 0;
  private inBody = false;
  private tag = 0;
  private length = 0;
  private remaining = 0;
  private capturing = false;
  private parts: Buffer[] = [];
  private captured = 0;

  constructor(
    private readonly format: HeaderFormat,
    private readonly capture: (tag: number) => boolean,
    private readonly maxCapture: number,
    /** Each kept frame, once its body (or the captured part of it) has passed: the body is longer than `body` when `cut`. */
    private readonly onFrame: (tag: number, body: Buffer, length: number, cut: boolean) => void,
  ) {
    this.header = Buffer.alloc(format.length);
  }

  /** True between frames: something may be injected into the stream here without breaking it. */
  atBoundary(): boolean {
    return !this.inBody && this.headerLen === 0;
  }

  push(chunk: Buffer): void {
    const size = this.format.length;
    let i = 0;
    while (i < chunk.length) {
      if (!this.inBody) {
        if (this.headerLen === 0 && chunk.length - i >= size) {
          this.start(chunk, i);
          i += size;
        } else {
          const take = Math.min(size - this.headerLen, chunk.length - i);
          chunk.copy(this.header, this.headerLen, i, i + take);
          this.headerLen += take;
          i += take;
          if (this.headerLen < size) return;
          this.headerLen = 0;
          this.start(this.header, 0);
        }
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

  private start(header: Buffer, at: number) {
    const length = this.format.bodyLength(header, at);
    this.tag = this.format.tag(header, at);
    this.inBody = true;
    this.length = this.remaining = length;
    this.capturing = this.capture(this.tag);
    this.parts = [];
    this.captured = 0;
  }

  private finish() {
    this.inBody = false;
    if (!this.capturing) return;
    const body = this.parts.length === 0 ? EMPTY : this.parts.length === 1 ? this.parts[0] : Buffer.concat(this.parts);
    this.parts = [];
    this.onFrame(this.tag, body, this.length, this.captured < this.length);
  }
}
