/**
 * A local, durable FIFO of events waiting for the audit backend: one JSONL file, appended with
 * fsync, read from an offset, removed once drained. A torn last line (a crash mid-append, so
 * never acknowledged) is cut off when the spool is opened.
 */
import { closeSync, existsSync, ftruncateSync, fsyncSync, mkdirSync, openSync, readSync, statSync } from 'node:fs';
import { open, unlink, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { syncDir, writeDurably } from './durable.js';
import type { AuditEvent } from './sink.js';

export type UnchainedEvent = Omit<AuditEvent, 'prev_hash' | 'hash'>;

export interface Spool {
  readonly path: string;
  /** Bytes waiting (0: empty). */
  size(): number;
  /** Events waiting. */
  count(): number;
  append(events: UnchainedEvent[]): Promise<void>;
  /** Up to `max` events starting at byte `offset`, and the offset after them. */
  read(offset: number, max: number): Promise<{ events: UnchainedEvent[]; next: number }>;
  /** Removes the drained spool. */
  clear(): Promise<void>;
  close(): Promise<void>;
}

export function openSpool(dir: string): Spool {
  const path = join(dir, 'audit-spool.jsonl');
  let size = 0;
  let count = 0;
  let fh: FileHandle | undefined;
  if (existsSync(path)) ({ size, count } = repair(path));

  const handle = async () => {
    if (fh) return fh;
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const created = !existsSync(path);
    fh = await open(path, 'a', 0o600);
    if (created) await syncDir(dir);
    return fh;
  };

  return {
    path,
    size: () => size,
    count: () => count,
    async append(events) {
      const bytes = Buffer.from(events.map((e) => `${JSON.stringify(e)}\n`).join(''));
      const file = await handle();
      try {
        await writeDurably(file, bytes, size);
      } catch (err) {
        await file.truncate(size).catch(() => undefined);
        throw err;
      }
      size += bytes.length;
      count += events.length;
    },
    async read(offset, max) {
      const file = await open(path, 'r');
      try {
        const events: UnchainedEvent[] = [];
        let pos = offset;
        let carry = Buffer.alloc(0);
        while (events.length < max && pos < size) {
          const chunk = Buffer.allocUnsafe(Math.min(1024 * 1024, size - pos));
          const { bytesRead } = await file.read(chunk, 0, chunk.length, pos);
          if (!bytesRead) break;
          const buf = Buffer.concat([carry, chunk.subarray(0, bytesRead)]);
          const bufStart = pos - carry.length;
          pos += bytesRead;
          let start = 0;
          for (let nl = buf.indexOf(0x0a); nl !== -1 && events.length < max; nl = buf.indexOf(0x0a, start)) {
            events.push(JSON.parse(buf.toString('utf8', start, nl)) as UnchainedEvent);
            start = nl + 1;
          }
          if (events.length === max) return { events, next: bufStart + start };
          carry = Buffer.from(buf.subarray(start));
        }
        return { events, next: pos - carry.length };
      } finally {
        await file.close();
      }
    },
    async clear() {
      await fh?.close();
      fh = undefined;
      await unlink(path).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'ENOENT') throw err;
      });
      size = 0;
      count = 0;
    },
    async close() {
      await fh?.close();
      fh = undefined;
    },
  };
}

/** Cuts a torn last line and counts the events. */
function repair(path: string): { size: number; count: number } {
  const fd = openSync(path, 'r+');
  try {
    const size = statSync(path).size;
    let count = 0;
    let lastNl = -1;
    const buf = Buffer.allocUnsafe(1024 * 1024);
    for (let pos = 0; pos < size;) {
      const n = readSync(fd, buf, 0, Math.min(buf.length, size - pos), pos);
      for (let i = buf.indexOf(0x0a); i !== -1 && i < n; i = buf.indexOf(0x0a, i + 1)) {
        count++;
        lastNl = pos + i;
      }
      pos += n;
    }
    if (lastNl + 1 < size) {
      ftruncateSync(fd, lastNl + 1);
      fsyncSync(fd);
    }
    return { size: lastNl + 1, count };
  } finally {
    closeSync(fd);
  }
}
