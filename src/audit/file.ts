/**
 * The file backend (the default): hash-chained JSONL, one file per UTC day under `dir`.
 *
 * - Group commit: events that arrive while a write+fsync is in flight share the next one; `emit`
 *   resolves only after the fsync that made its event durable (and the directory's, for a new file).
 * - Events are chained when written, in write order; `time` never goes backwards (a clock step
 *   back is clamped to the previous event's time), so file order, time order and chain order agree.
 * - Crash recovery at start: a torn last line (no newline, or not a readable event) is moved aside
 *   to `<file>.torn-<ms>` and the chain continues from the last good event, with an
 *   `audit.recovered` event saying what was moved.
 * - A failed write is rolled back (the file truncated to its size before), so the chain never has
 *   a hole; the emit fails closed (or is logged: `on_failure: log`).
 * - Retention: whole day files older than the retention are removed, after an `audit.pruned`
 *   event records the hash they ended with (verification's new anchor).
 * - Queries stream the files (forwards or backwards from a cursor) with cheap pre-filters on the
 *   raw line before parsing; a cursor is a (day, byte offset) position, stable under appends.
 */
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, readSync, statSync, writeFileSync, ftruncateSync } from 'node:fs';
import { open, readdir, unlink, type FileHandle } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type { Logger } from '../core/logger.js';
import { chainEvent, GENESIS_HASH } from './chain.js';
import { settleUnstored, type AuditFailurePolicy, type PendingEmit } from './failure.js';
import { backwardLines, forwardLines } from './lines.js';
import { compileMatcher, decodeCursor, encodeCursor, LOCATED_FIELDS, typePrefix, type AuditQuery } from './query.js';
import { pageOf, type AuditBackend, type Positioned } from './reader.js';
import { toUnchainedEvent, type AuditEvent, type AuditInput, type AuditSink } from './sink.js';
import { createChainVerifier, type VerifyResult } from './verify.js';

const FILE_PATTERN = /^audit-(\d{4}-\d{2}-\d{2})\.jsonl$/;
const fileName = (day: string) => `audit-${day}.jsonl`;
const dayOf = (ms: number) => new Date(ms).toISOString().slice(0, 10);

export interface FileAuditOptions {
  dir: string;
  now?: () => Date;
  /** Remove day files older than this (ms); undefined keeps everything. */
  retentionMs?: number;
  onFailure?: AuditFailurePolicy;
  logger?: Logger;
  /** Extra wait (ms) before a write to gather a larger group commit; 0 (default) takes what arrived during the previous fsync. */
  commitDelayMs?: number;
}

export function createFileAuditBackend(options: FileAuditOptions): AuditBackend {
  const { dir, logger } = options;
  const now = options.now ?? (() => new Date());
  const onFailure = options.onFailure ?? 'refuse';
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const recovery = recoverTail(dir);
  let head = recovery.head;
  let lastTimeMs = recovery.lastTimeMs;
  let pending: PendingEmit[] = [];
  let flushing: Promise<void> | undefined;
  let closed = false;
  let lastError: string | undefined;
  let current: { day: string; fh: FileHandle; size: number } | undefined;

  const openDay = async (day: string) => {
    if (current?.day === day) return current;
    await current?.fh.close();
    current = undefined;
    const path = join(dir, fileName(day));
    const created = !existsSync(path);
    const fh = await open(path, 'a', 0o600);
    if (created) await syncDir(dir);
    current = { day, fh, size: (await fh.stat()).size };
    return current;
  };

  /** Chains and writes a batch; returns how many events are durable and, if it stopped early, why. */
  const writeBatch = async (batch: PendingEmit[]): Promise<{ chained: AuditEvent[]; written: number; error?: unknown }> => {
    let chainHead = head;
    const chained = batch.map((item) => {
      const event = chainEvent(item.event, chainHead);
      chainHead = event.hash;
      return event;
    });
    // Consecutive runs per day, in chain order.
    const runs: { day: string; text: string; end: number }[] = [];
    chained.forEach((event, i) => {
      const day = event.time.slice(0, 10);
      const line = `${JSON.stringify(event)}\n`;
      const run = runs.at(-1);
      if (run?.day === day) {
        run.text += line;
        run.end = i + 1;
      } else runs.push({ day, text: line, end: i + 1 });
    });
    let written = 0;
    for (const run of runs) {
      let before = 0;
      try {
        const file = await openDay(run.day);
        before = file.size;
        const bytes = Buffer.from(run.text);
        let done = 0;
        while (done < bytes.length) done += (await file.fh.write(bytes, done, bytes.length - done, before + done)).bytesWritten;
        await file.fh.sync();
        file.size = before + bytes.length;
      } catch (error) {
        // Roll back a partial write so the next line does not follow garbage.
        await current?.fh.truncate(before).catch(() => undefined);
        await current?.fh.close().catch(() => undefined);
        current = undefined;
        return { chained, written, error };
      }
      written = run.end;
      head = chained[written - 1].hash;
    }
    return { chained, written };
  };

  const flush = async (): Promise<void> => {
    if (options.commitDelayMs) await new Promise((r) => setTimeout(r, options.commitDelayMs));
    else await new Promise((r) => setImmediate(r));
    while (pending.length) {
      const batch = pending;
      pending = [];
      const { chained, written, error } = await writeBatch(batch);
      for (let i = 0; i < written; i++) batch[i].resolve(chained[i]);
      if (error === undefined) lastError = undefined;
      else {
        lastError = (error as Error).message;
        settleUnstored(batch.slice(written), error, onFailure, logger);
      }
    }
  };

  const schedule = () => {
    flushing ??= flush().finally(() => {
      flushing = undefined;
      if (pending.length) schedule();
    });
  };

  const emit = (input: AuditInput): Promise<AuditEvent> => {
    if (closed) return Promise.reject(new Error('audit sink is closed'));
    // Time never goes backwards in the chain, so day files, time and chain order agree.
    const at = new Date(Math.max(now().getTime(), lastTimeMs));
    lastTimeMs = at.getTime();
    const event = toUnchainedEvent(input, at);
    return new Promise<AuditEvent>((resolve, reject) => {
      pending.push({ event, resolve, reject });
      schedule();
    });
  };

  let pruning: Promise<void> | undefined;
  const prune = () =>
    (pruning ??= pruneOnce().finally(() => {
      pruning = undefined;
    }));
  const pruneOnce = async () => {
    if (options.retentionMs === undefined) return;
    const cutoffDay = dayOf(now().getTime() - options.retentionMs);
    const old = auditFiles(dir).filter((f) => basename(f).slice(6, 16) < cutoffDay);
    if (!old.length) return;
    let anchor: string | undefined;
    for (let i = old.length - 1; i >= 0 && !anchor; i--) anchor = lastEventOf(old[i])?.hash;
    if (anchor) {
      // Recorded (durably) before anything is removed: verification starts from this anchor.
      await emit({
        type: 'audit.pruned',
        outcome: 'success',
        details: { files: old.map((f) => basename(f)), before: cutoffDay, anchor, retention_ms: options.retentionMs },
      });
    }
    for (const file of old) await unlink(file).catch((err) => logger?.warn({ err, file }, 'audit retention: cannot remove file'));
  };

  const backend: AuditBackend = {
    kind: 'file',
    emit,
    scan: (query) => scanDir(dir, query),
    query: (query) => pageOf(scanDir(dir, query), query.limit),
    verify: () => verifyAuditDir(dir),
    prune,
    async status() {
      if (lastError) return { ready: false, detail: `audit file write failed: ${lastError}` };
      return { ready: true, detail: 'ok' };
    },
    async close() {
      closed = true;
      clearInterval(timer);
      while (flushing) await flushing;
      await current?.fh.close();
      current = undefined;
    },
  };

  if (recovery.recovered) {
    logger?.warn(recovery.recovered, 'audit: torn last line moved aside');
    emit({ type: 'audit.recovered', outcome: 'success', details: recovery.recovered }).catch((err) =>
      logger?.error({ err }, 'audit: cannot record the recovery'),
    );
  }
  const runPrune = () => prune().catch((err) => logger?.error({ err }, 'audit retention failed'));
  if (options.retentionMs !== undefined) void runPrune();
  const timer = setInterval(runPrune, 3_600_000);
  timer.unref();
  return backend;
}

/** The original name: a file backend is an AuditSink. */
export const createFileAuditSink = (options: FileAuditOptions): AuditSink & AuditBackend => createFileAuditBackend(options);

/** Files of an audit directory in chain order. */
export const auditFiles = (dir: string): string[] =>
  readdirSync(dir, { withFileTypes: true })
    .filter((f) => f.isFile() && FILE_PATTERN.test(f.name))
    .map((f) => f.name)
    .sort()
    .map((f) => join(dir, f));

/** Every event of a directory, in order (small logs and tests; queries stream instead). */
export function readAuditEvents(dir: string): AuditEvent[] {
  return auditFiles(dir).flatMap((file) =>
    readFileSync(file, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as AuditEvent),
  );
}

async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

// --- crash recovery -------------------------------------------------------------------------

interface Recovery {
  head: string;
  lastTimeMs: number;
  recovered?: { file: string; offset: number; bytes: number; moved_to: string };
}

const parseEvent = (line: string): AuditEvent | undefined => {
  try {
    const event = JSON.parse(line) as AuditEvent;
    return event && typeof event.hash === 'string' && typeof event.time === 'string' ? event : undefined;
  } catch {
    return undefined;
  }
};

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

function lastEventOf(path: string): AuditEvent | undefined {
  const line = lastLine(path, statSync(path).size);
  return line ? parseEvent(line.text) : undefined;
}

/**
 * Finds the chain head; in the newest non-empty file, moves aside a torn tail: bytes after the
 * last newline, and trailing lines that are not readable events (a write cut short mid-line).
 */
function recoverTail(dir: string): Recovery {
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
      const movedTo = `${path}.torn-${Date.now()}`;
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
      const earlier = recoverTail(dir);
      return { ...earlier, recovered };
    }
  }
  return { head: GENESIS_HASH, lastTimeMs: 0 };
}

// --- queries ----------------------------------------------------------------------------------

const CURSOR = /^f:(\d{4}-\d{2}-\d{2}):(\d{1,15})$/;
const fileCursor = (day: string, offset: number) => encodeCursor(`f:${day}:${offset}`);

/** Necessary conditions on the raw JSON line, so most non-matching lines are never parsed. */
function linePrefilter(query: AuditQuery): (line: string) => boolean {
  const needles: string[] = [];
  const field = (name: string, value: string) => `"${name}":${JSON.stringify(value)}`;
  if (query.user !== undefined) needles.push(field('user', query.user));
  if (query.outcome !== undefined) needles.push(field('outcome', query.outcome));
  if (query.id !== undefined) needles.push(field('id', query.id));
  for (const name of LOCATED_FIELDS) if (query[name] !== undefined) needles.push(field(name, query[name]!));
  const typeNeedles = (query.types ?? []).map((t) => {
    const prefix = typePrefix(t);
    return prefix === undefined ? field('type', t) : `"type":"${prefix}`;
  });
  const anyType = !typeNeedles.length || typeNeedles.includes('"type":"');
  // A printable-ASCII q without quote or backslash appears unescaped in the JSON line.
  const q = query.q && /^[\x20-\x7e]*$/.test(query.q) && !/["\\]/.test(query.q) ? query.q.toLowerCase() : undefined;
  return (line) =>
    needles.every((n) => line.includes(n)) && (anyType || typeNeedles.some((n) => line.includes(n))) && (q === undefined || line.toLowerCase().includes(q));
}

async function* scanDir(dir: string, query: AuditQuery): AsyncGenerator<Positioned> {
  const match = compileMatcher(query);
  const pre = linePrefilter(query);
  const cursor = query.cursor ? decodeCursor(query.cursor, CURSOR) : undefined;
  const cursorDay = cursor?.[1];
  const cursorOffset = cursor ? Number(cursor[2]) : 0;
  const fromDay = query.from ? query.from.slice(0, 10) : undefined;
  const toMs = query.to ? Date.parse(query.to) : undefined;
  let days = (await readdir(dir))
    .map((f) => FILE_PATTERN.exec(f)?.[1])
    .filter((d): d is string => d !== undefined)
    .filter((d) => (fromDay === undefined || d >= fromDay) && (toMs === undefined || Date.parse(`${d}T00:00:00Z`) < toMs))
    .sort();
  const asc = query.order === 'asc';
  if (cursorDay) days = days.filter((d) => (asc ? d >= cursorDay : d <= cursorDay));
  if (!asc) days.reverse();

  for (const day of days) {
    let fh: FileHandle;
    try {
      fh = await open(join(dir, fileName(day)), 'r');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue; // removed by retention meanwhile
      throw err;
    }
    try {
      const size = (await fh.stat()).size;
      const atCursor = day === cursorDay;
      const lines = asc ? forwardLines(fh, atCursor ? cursorOffset : 0, size) : backwardLines(fh, atCursor ? cursorOffset : size);
      for await (const line of lines) {
        if (asc && atCursor && line.offset === cursorOffset) continue; // strictly after the cursor
        if (!line.text || !pre(line.text)) continue;
        const event = parseEvent(line.text);
        if (event && match(event)) yield { event, cursor: fileCursor(day, line.offset) };
      }
    } finally {
      await fh.close();
    }
  }
}

/** Verifies the chain of an audit directory (online, or offline: `gatehouse audit verify --dir`). */
export async function verifyAuditDir(dir: string): Promise<VerifyResult> {
  const verifier = createChainVerifier();
  for (const file of auditFiles(dir)) {
    const fh = await open(file, 'r');
    try {
      let lineNo = 0;
      for await (const line of forwardLines(fh, 0, (await fh.stat()).size, 1024 * 1024)) {
        lineNo++;
        if (!line.text) continue;
        const location = `${basename(file)}:${lineNo}`;
        let record: AuditEvent | undefined;
        try {
          record = JSON.parse(line.text) as AuditEvent;
        } catch {
          record = undefined;
        }
        if (verifier.add(record, location, /"id":"([0-9a-f-]{36})"/.exec(line.text)?.[1])) return verifier.finish();
      }
    } finally {
      await fh.close();
    }
  }
  return verifier.finish();
}
