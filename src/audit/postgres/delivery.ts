/**
 * Delivery is never silently dropped: when PostgreSQL cannot take a batch, it goes to a local
 * spool (fsync'd) and the emit resolves; while the spool holds events, new events queue behind
 * them; a drain loop with backoff moves them, oldest first, into the chain (deduplicated by id,
 * so a drain cut short is safe to repeat). If the spool cannot be written either, emits are
 * refused (or logged: `on_failure: log`).
 */
import type { Clock } from '../../core/clock.js';
import type { Logger } from '../../core/logger.js';
import { settleUnstored, type AuditFailurePolicy, type PendingEmit } from '../failure.js';
import type { AuditStatus } from '../reader.js';
import { toUnchainedEvent, withoutChain, type AuditEvent, type AuditInput } from '../sink.js';
import { openSpool } from '../spool.js';
import type { AuditDatabase } from './database.js';
import { insertBatch } from './writer.js';

export interface Delivery {
  emit(input: AuditInput): Promise<AuditEvent>;
  /** Probes PostgreSQL (when up, or due for a retry) and reports what waits in the spool. */
  status(): Promise<AuditStatus>;
  close(): Promise<void>;
}

export function startDelivery(options: {
  db: AuditDatabase;
  spoolDir: string;
  /** Event times and the retry backoff (a clock that never moves holds spooled events until it does). */
  clock: Clock;
  onFailure: AuditFailurePolicy;
  maxBatch: number;
  logger?: Logger;
}): Delivery {
  const { db, clock, onFailure, maxBatch, logger } = options;
  const spool = openSpool(options.spoolDir);
  const pending: PendingEmit[] = [];
  let running: Promise<void> | undefined;
  let closed = false;
  let spoolOffset = 0;
  let drained = 0;
  let pgError: string | undefined;
  let spoolError: string | undefined;
  let failures = 0;
  let retryAt = 0;
  let retryTimer: NodeJS.Timeout | undefined;

  const markDown = (err: unknown) => {
    const message = (err as Error).message || String(err);
    if (pgError === undefined) logger?.warn({ err: message }, 'audit: PostgreSQL unreachable; events go to the spool');
    pgError = message;
    failures++;
    retryAt = clock.now() + Math.min(5000, 100 * 2 ** Math.min(failures, 6));
  };
  const markUp = () => {
    if (pgError !== undefined) logger?.info('audit: PostgreSQL reachable again');
    pgError = undefined;
    failures = 0;
    retryAt = 0;
  };

  async function spoolPending(): Promise<void> {
    const batch = pending.splice(0);
    if (!batch.length) return;
    try {
      await spool.append(batch.map((b) => b.event));
      spoolError = undefined;
      batch.forEach((b) => b.resolve(withoutChain(b.event)));
    } catch (err) {
      spoolError = (err as Error).message;
      settleUnstored(batch, err, onFailure, logger);
    }
  }

  /** Moves the spool into PostgreSQL, oldest first; new emits meanwhile join the spool's end. */
  async function drainSpool(): Promise<boolean> {
    for (;;) {
      await spoolPending();
      if (spoolOffset >= spool.size()) {
        await spool.clear();
        spoolOffset = 0;
        drained = 0;
        return true;
      }
      const { events, next } = await spool.read(spoolOffset, maxBatch);
      try {
        await insertBatch(db, events, true);
        markUp();
      } catch (err) {
        markDown(err);
        return false;
      }
      spoolOffset = next;
      drained += events.length;
    }
  }

  async function run(): Promise<void> {
    for (;;) {
      if (spool.size() > 0) {
        if (clock.now() >= retryAt && (await drainSpool())) continue;
        if (!pending.length) break;
        await spoolPending();
        continue;
      }
      if (!pending.length) break;
      const batch = pending.splice(0, maxBatch);
      try {
        const chained = await insertBatch(
          db,
          batch.map((b) => b.event),
          false,
        );
        markUp();
        batch.forEach((b, i) => b.resolve(chained[i]));
      } catch (err) {
        markDown(err);
        pending.unshift(...batch);
        await spoolPending();
      }
    }
    if (spool.size() > 0 && !closed) {
      clearTimeout(retryTimer);
      retryTimer = setTimeout(kick, Math.max(0, retryAt - clock.now()));
      retryTimer.unref();
    }
  }

  function kick(): void {
    running ??= run()
      .catch((err) => logger?.error({ err }, 'audit: delivery loop failed'))
      .finally(() => {
        running = undefined;
        if (pending.length || (spool.size() > 0 && clock.now() >= retryAt && !closed)) kick();
      });
  }

  // Start order never matters: connect and migrate in the background; drain a spool left from before.
  db.ensureSchema().then(markUp, markDown);
  if (spool.size() > 0) kick();

  return {
    emit(input) {
      if (closed) return Promise.reject(new Error('audit sink is closed'));
      const event = toUnchainedEvent(input, new Date(clock.now()));
      return new Promise<AuditEvent>((resolve, reject) => {
        pending.push({ event, resolve, reject });
        kick();
      });
    },
    async status() {
      const waiting = spool.count() - drained;
      if (pgError === undefined || clock.now() >= retryAt) {
        try {
          await db.ensureSchema();
          await db.pool.query('SELECT 1');
          markUp();
        } catch (err) {
          markDown(err);
        }
      }
      if (pgError === undefined) return { ready: true, detail: waiting > 0 ? `ok; flushing ${waiting} spooled events` : 'ok', spooled: waiting };
      const detail = `PostgreSQL unreachable (${pgError}); events spool to ${spool.path} (${waiting} waiting)`;
      return spoolError ? { ready: false, detail: `${detail}; spool failing: ${spoolError}`, spooled: waiting } : { ready: true, detail, spooled: waiting };
    },
    async close() {
      closed = true;
      clearTimeout(retryTimer);
      while (running) await running;
      await spool.close();
    },
  };
}
