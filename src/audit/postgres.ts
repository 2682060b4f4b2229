/**
 * The PostgreSQL backend (npm `pg`), for several replicas and large logs.
 *
 * - Schema (postgres/schema.ts): created and migrated at start (versioned, under an advisory lock
 *   so replicas do not race), retried while the database is unreachable.
 * - One chain for all replicas (postgres/writer.ts): each batch is chained and inserted in one
 *   transaction holding an advisory lock on the chain head.
 * - Rows keep the event as written (`doc`, the exact JSON) plus index columns (time, type,
 *   user, session_id, cluster, node, app, a lowercased search text). Verification recomputes
 *   every hash from `doc` and checks that the columns agree with it (postgres/reader.ts).
 * - Delivery is never silently dropped (postgres/delivery.ts): while PostgreSQL is away, events
 *   go to a local spool and drain into the chain when it returns.
 */
import { systemClock, type Clock } from '../core/clock.js';
import type { Logger } from '../core/logger.js';
import type { AuditFailurePolicy } from './failure.js';
import { openAuditDatabase, type AuditDatabase } from './postgres/database.js';
import { startDelivery } from './postgres/delivery.js';
import { scanTable, verifyTable } from './postgres/reader.js';
import { pageOf, type AuditBackend } from './reader.js';
import { scheduleRetention } from './retention.js';
import type { AuditEvent, AuditInput } from './sink.js';

export { MIGRATIONS } from './postgres/schema.js';

export interface PostgresAuditOptions {
  url: string;
  /** Schema holding the tables (created if missing). */
  schema?: string;
  /** Where events wait while PostgreSQL is unreachable. */
  spoolDir: string;
  onFailure?: AuditFailurePolicy;
  retentionMs?: number;
  logger?: Logger;
  /** Time source for event times, retention cut-offs and the retry backoff. */
  clock?: Clock;
  poolSize?: number;
  /** Largest batch per transaction. */
  maxBatch?: number;
}

/** Removes the events older than the retention, after recording the hash the last of them ended with. */
async function pruneTable(db: AuditDatabase, retentionMs: number, nowMs: number, emit: (input: AuditInput) => Promise<AuditEvent>): Promise<void> {
  await db.ensureSchema();
  const cutoff = new Date(nowMs - retentionMs).toISOString();
  const { rows } = await db.pool.query<{ seq: string; hash: string }>(
    `SELECT seq, hash FROM ${db.table} WHERE time < $1::timestamptz ORDER BY seq DESC LIMIT 1`,
    [cutoff],
  );
  if (!rows.length) return;
  // Recorded before anything is removed: verification starts from this anchor.
  await emit({
    type: 'audit.pruned',
    outcome: 'success',
    details: { before: cutoff, through_seq: Number(rows[0].seq), anchor: rows[0].hash, retention_ms: retentionMs },
  });
  await db.pool.query(`DELETE FROM ${db.table} WHERE seq <= $1::bigint`, [rows[0].seq]);
}

export function createPostgresAuditBackend(options: PostgresAuditOptions): AuditBackend {
  const { logger } = options;
  const clock = options.clock ?? systemClock;
  const db = openAuditDatabase({ url: options.url, schema: options.schema ?? 'public', poolSize: options.poolSize, logger });
  const delivery = startDelivery({
    db,
    spoolDir: options.spoolDir,
    clock,
    onFailure: options.onFailure ?? 'refuse',
    maxBatch: options.maxBatch ?? 1000,
    logger,
  });
  const retention = scheduleRetention({
    retentionMs: options.retentionMs,
    pruneOnce: (retentionMs) => pruneTable(db, retentionMs, clock.now(), delivery.emit),
    onError: (err) => logger?.warn({ err: (err as Error).message }, 'audit retention failed'),
  });
  return {
    kind: 'postgres',
    emit: delivery.emit,
    scan: (query) => scanTable(db, query),
    query: (query) => pageOf(scanTable(db, query, Math.min(query.limit + 1, 1001)), query.limit),
    verify: () => verifyTable(db),
    prune: retention.prune,
    status: delivery.status,
    async close() {
      retention.stop();
      await delivery.close();
      await db.end();
    },
  };
}
