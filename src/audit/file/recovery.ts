/**
 * Crash recovery at start: finds the chain head and, in the newest non-empty day file, moves a
 * torn tail (bytes after the last newline, and trailing lines that are not readable events: a
 * write cut short mid-line) aside to `<file>.torn-<ms>`.
 */
import { closeSync, fsyncSync, ftruncateSync, openSync, readSync, statSync, writeFileSync } from 'node:fs';
import { basename } from 'node:path';
import type { Clock } from '../../core/clock.js';
import { GENESIS_HASH } from '../chain.js';
import type { AuditEvent } from '../sink.js';
import { auditFiles, parseEvent } from './layout.js';

export interface Recovery {
  head: string;
  lastTimeMs: number;
  recovered?: { file: string; offset: number; bytes: number; moved_to: string };
}

/** The last complete line of a file and where it starts, reading backwards in growing windows. */
function lastLine(path: string, end: number): { text: string; offset: number } | undefined {
  if (end === 0) return undefined;
  const fd = openSync(path, 'r');
  try {
    for (let window = 64 * 1024; ; window *= 4) {
      const from = Math.max(0, end - window);
      const buf = Buffer.alloc(end - from);
      readSync(fd, buf, 0, buf.length, from);
      const lastNl = buf.lastIndexOf(0x0a);
      if (lastNl === -1) {
        if (from === 0) return undefined;
        continue;
      }
      const prevNl = lastNl > 0 ? buf.lastIndexOf(0x0a, lastNl - 1) : -1;
      if (prevNl === -1 && from > 0) continue;
      return { text: buf.toString('utf8', prevNl + 1, lastNl), offset: from + prevNl + 1 };
    }
  } finally {
    closeSync(fd);
  }
}

export function lastEventOf(path: string): AuditEvent | undefined {
  const line = lastLine(path, statSync(path).size);
  return line ? parseEvent(line.text) : undefined;
}

export function recoverTail(dir: string, clock: Clock): Recovery {
  const files = auditFiles(dir);
  for (let i = files.length - 1; i >= 0; i--) {
    const path = files[i];
    const size = statSync(path).size;
    if (size === 0) continue;
    let goodEnd = size;
    let last: AuditEvent | undefined;
    for (;;) {
      const line = lastLine(path, goodEnd);
      if (!line) {
        goodEnd = 0;
        break;
      }
      const lineEnd = line.offset + Buffer.byteLength(line.text) + 1;
      if (lineEnd < goodEnd) {
        goodEnd = lineEnd; // drop bytes after the last newline first
        continue;
      }
      last = parseEvent(line.text);
      if (last) break;
      goodEnd = line.offset;
    }
    let recovered: Recovery['recovered'];
    if (goodEnd < size) {
      const movedTo = `${path}.torn-${clock.now()}`;
      const fd = openSync(path, 'r+');
      try {
        const torn = Buffer.alloc(size - goodEnd);
        readSync(fd, torn, 0, torn.length, goodEnd);
        writeFileSync(movedTo, torn, { mode: 0o600, flush: true });
        ftruncateSync(fd, goodEnd);
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      recovered = { file: basename(path), offset: goodEnd, bytes: size - goodEnd, moved_to: basename(movedTo) };
    }
    if (last) return { head: last.hash, lastTimeMs: Date.parse(last.time), recovered };
    if (recovered) {
      // The whole file was torn; the head is in an earlier file.
      const earlier = recoverTail(dir, clock);
      return { ...earlier, recovered };
    }
  }
  return { head: GENESIS_HASH, lastTimeMs: 0 };
}
