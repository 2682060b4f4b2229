/**
 * One chain for all replicas: each batch is chained inside a transaction holding a
 * transaction-level advisory lock on the chain head (`pg_advisory_xact_lock`), so `seq` and
 * `prev_hash` are assigned by exactly one writer at a time. Batching (group commit) makes the
 * lock cheap: one lock, one head read and one multi-row INSERT per batch.
 */
import { chainEvents, eventLine, GENESIS_HASH } from '../chain.js';
import type { AuditEvent } from '../sink.js';
import type { UnchainedEvent } from '../spool.js';
import type { AuditDatabase } from './database.js';
import { indexColumns } from './schema.js';

/** Chains and inserts events under the chain lock; with `dedupe`, skips ids already stored. */
export async function insertBatch(db: AuditDatabase, events: UnchainedEvent[], dedupe: boolean): Promise<AuditEvent[]> {
  const T = db.table;
  await db.ensureSchema();
  return db.transaction(async (client) => {
    await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`gatehouse-audit-chain:${db.schema}`]);
    const { rows } = await client.query<{ seq: string; hash: string }>(`SELECT seq, hash FROM ${T} ORDER BY seq DESC LIMIT 1`);
    let seq = rows.length ? BigInt(rows[0].seq) : 0n;
    const prev = rows.length ? rows[0].hash : GENESIS_HASH;
    let todo = events;
    if (dedupe) {
      const existing = await client.query<{ id: string }>(`SELECT id FROM ${T} WHERE id = ANY($1::uuid[])`, [events.map((e) => e.id)]);
      const stored = new Set(existing.rows.map((r) => r.id));
      todo = events.filter((e) => !stored.has(e.id));
    }
    if (!todo.length) return [];
    const chained = chainEvents(todo, prev);
    const cols = chained.map(indexColumns);
    await client.query(
      `INSERT INTO ${T} (seq, id, time, type, outcome, "user", session_id, cluster, node, app, search, hash, doc)
       SELECT * FROM unnest($1::bigint[], $2::uuid[], $3::timestamptz[], $4::text[], $5::text[], $6::text[], $7::text[],
                            $8::text[], $9::text[], $10::text[], $11::text[], $12::text[], $13::text[])`,
      [
        chained.map(() => String(++seq)),
        cols.map((c) => c.id),
        cols.map((c) => c.time),
        cols.map((c) => c.type),
        cols.map((c) => c.outcome),
        cols.map((c) => c.user),
        cols.map((c) => c.session_id),
        cols.map((c) => c.cluster),
        cols.map((c) => c.node),
        cols.map((c) => c.app),
        cols.map((c) => c.search),
        cols.map((c) => c.hash),
        chained.map(eventLine),
      ],
    );
    return chained;
  });
}
