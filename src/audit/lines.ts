import type { FileHandle } from 'node:fs/promises';

/** A complete (newline-terminated) line of a file and the byte offset where it starts. */
export interface Line {
  text: string;
  offset: number;
}

const NL = 0x0a;
const CHUNK = 256 * 1024;

/** Lines that start at or after `start` and end (with their newline) at or before `end`, in file order. */
export async function* forwardLines(fh: FileHandle, start: number, end: number, chunkSize = CHUNK): AsyncGenerator<Line> {
  let pos = start;
  let carry = Buffer.alloc(0);
  let carryOffset = start;
  while (pos < end) {
    const want = Math.min(chunkSize, end - pos);
    const chunk = Buffer.allocUnsafe(want);
    const { bytesRead } = await fh.read(chunk, 0, want, pos);
    if (bytesRead === 0) break;
    pos += bytesRead;
    const buf = carry.length ? Buffer.concat([carry, chunk.subarray(0, bytesRead)]) : chunk.subarray(0, bytesRead);
    let lineStart = 0;
    for (let nl = buf.indexOf(NL); nl !== -1; nl = buf.indexOf(NL, lineStart)) {
      yield { text: buf.toString('utf8', lineStart, nl), offset: carryOffset + lineStart };
      lineStart = nl + 1;
    }
    carry = Buffer.from(buf.subarray(lineStart));
    carryOffset += lineStart;
  }
}

/**
 * Lines that end before `end`, last first. Bytes after the last newline before `end` (a torn
 * tail being written) are ignored, so `end` may be the file size.
 */
export async function* backwardLines(fh: FileHandle, end: number, chunkSize = CHUNK): AsyncGenerator<Line> {
  let pos = end;
  let tail = Buffer.alloc(0);
  let first = true;
  while (pos > 0 || tail.length) {
    const from = Math.max(0, pos - chunkSize);
    const chunk = Buffer.allocUnsafe(pos - from);
    if (chunk.length) await fh.read(chunk, 0, chunk.length, from);
    let buf = tail.length ? Buffer.concat([chunk, tail]) : chunk;
    const bufStart = from;
    pos = from;
    if (first) {
      // Drop a partial last line; keep searching further back when the chunk holds none.
      const lastNl = buf.lastIndexOf(NL);
      if (lastNl === -1) {
        if (from === 0) return;
        tail = Buffer.from(buf);
        continue;
      }
      buf = buf.subarray(0, lastNl + 1);
      first = false;
    }
    let idx = buf.length - 1; // a newline: the end of the last unread line
    for (;;) {
      const prev = idx > 0 ? buf.lastIndexOf(NL, idx - 1) : -1;
      if (prev === -1) {
        if (bufStart === 0) {
          if (idx >= 0) yield { text: buf.toString('utf8', 0, idx), offset: 0 };
          return;
        }
        tail = Buffer.from(buf.subarray(0, idx + 1));
        break;
      }
      yield { text: buf.toString('utf8', prev + 1, idx), offset: bufStart + prev + 1 };
      idx = prev;
    }
    if (pos === 0 && !tail.length) return;
  }
}
