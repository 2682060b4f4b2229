/**
 * The file backend (the default): hash-chained JSONL, one file per UTC day under `dir`.
 *
 * - Group commit: events that arrive while a write+fsync is in flight share the next one; `emit`
 *   resolves only after the fsync that made its event durable (file/day-writer.ts).
 * - Events are chained when written, in write order; `time` never goes backwards (a clock step
 *   back is clamped to the previous event's time), so file order, time order and chain order agree.
 * - Crash recovery at start (file/recovery.ts): a torn last line is moved aside and the chain
 *   continues from the last good event, with an `audit.recovered` event saying what was moved.
 * - A failed write is rolled back, so the chain never has a hole; the emit fails closed (or is
 *   logged: `on_failure: log`).
 * - Retention (file/retention.ts): whole day files older than the retention are removed, after an
 *   `audit.pruned` event records the hash they ended with (verification's new anchor).
 * - Queries and verification stream the files (file/reader.ts).
 */
import { mkdirSync } from 'node:fs';
import { systemClock, type Clock } from '../core/clock.js';
import type { Logger } from '../core/logger.js';
import { chainEvents } from './chain.js';
import { settleUnstored, type AuditFailurePolicy, type PendingEmit } from './failure.js';
import { createDayFileWriter } from './file/day-writer.js';
import { scanDir, verifyAuditDir } from './file/reader.js';
import { recoverTail } from './file/recovery.js';
import { pruneDayFiles } from './file/retention.js';
import { pageOf, type AuditBackend } from './reader.js';
import { scheduleRetention } from './retention.js';
import { toUnchainedEvent, type AuditEvent, type AuditInput, type AuditSink } from './sink.js';

export { auditFiles, readAuditEvents } from './file/layout.js';
export { verifyAuditDir } from './file/reader.js';

export interface FileAuditOptions {
  dir: string;
  /** Time source for event times, retention cut-offs and the names of torn tails moved aside. */
  clock?: Clock;
  /** Remove day files older than this (ms); undefined keeps everything. */
  retentionMs?: number;
  onFailure?: AuditFailurePolicy;
  logger?: Logger;
  /** Extra wait (ms) before a write to gather a larger group commit; 0 (default) takes what arrived during the previous fsync. */
  commitDelayMs?: number;
}

export function createFileAuditBackend(options: FileAuditOptions): AuditBackend {
  const { dir, logger } = options;
  const clock = options.clock ?? systemClock;
  const onFailure = options.onFailure ?? 'refuse';
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const recovery = recoverTail(dir, clock);
  const writer = createDayFileWriter(dir);
  let head = recovery.head;
  let lastTimeMs = recovery.lastTimeMs;
  let pending: PendingEmit[] = [];
  let flushing: Promise<void> | undefined;
  let closed = false;
  let lastError: string | undefined;

  const flush = async (): Promise<void> => {
    if (options.commitDelayMs) await new Promise((r) => setTimeout(r, options.commitDelayMs));
    else await new Promise((r) => setImmediate(r));
    while (pending.length) {
      const batch = pending;
      pending = [];
      const chained = chainEvents(
        batch.map((item) => item.event),
        head,
      );
      const { written, error } = await writer.write(chained);
      if (written) head = chained[written - 1].hash;
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
    const at = new Date(Math.max(clock.now(), lastTimeMs));
    lastTimeMs = at.getTime();
    const event = toUnchainedEvent(input, at);
    return new Promise<AuditEvent>((resolve, reject) => {
      pending.push({ event, resolve, reject });
      schedule();
    });
  };

  const backend: AuditBackend = {
    kind: 'file',
    emit,
    scan: (query) => scanDir(dir, query),
    query: (query) => pageOf(scanDir(dir, query), query.limit),
    verify: () => verifyAuditDir(dir),
    prune: () => retention.prune(),
    async status() {
      if (lastError) return { ready: false, detail: `audit file write failed: ${lastError}` };
      return { ready: true, detail: 'ok' };
    },
    async close() {
      closed = true;
      retention.stop();
      while (flushing) await flushing;
      await writer.close();
    },
  };

  if (recovery.recovered) {
    logger?.warn(recovery.recovered, 'audit: torn last line moved aside');
    emit({ type: 'audit.recovered', outcome: 'success', details: recovery.recovered }).catch((err) =>
      logger?.error({ err }, 'audit: cannot record the recovery'),
    );
  }
  const retention = scheduleRetention({
    retentionMs: options.retentionMs,
    pruneOnce: (retentionMs) => pruneDayFiles({ dir, retentionMs, nowMs: clock.now(), emit, logger }),
    onError: (err) => logger?.error({ err }, 'audit retention failed'),
  });
  return backend;
}

/** The original name: a file backend is an AuditSink. */
export const createFileAuditSink = (options: FileAuditOptions): AuditSink & AuditBackend => createFileAuditBackend(options);
