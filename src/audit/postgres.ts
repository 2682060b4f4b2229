/**
 * The PostgreSQL backend (npm `pg`), for several replicas and large logs.
 *
 * - Schema: created and migrated at start (versioned, under an advisory lock so replicas do not
 *   race), retried with backoff while the database is unreachable.
 * - One chain for all replicas: each batch is chained inside a transaction holding a
 *   transaction-level advisory lock on the chain head (`pg_advisory_xact_lock`), so `seq` and
 *   `prev_hash` are assigned by exactly one writer at a time. Batching (group commit) makes the
 *   lock cheap: one lock, one head read and one multi-row INSERT per batch.
 * - Rows keep the event as written (`doc`, the exact JSON) plus index columns (time, type,
 *   user, session_id, cluster, node, app, a lowercased search text). Verification recomputes
 *   every hash from `doc` and checks that the columns agree with it.
 * - Delivery is never silently dropped: when PostgreSQL cannot take a batch, it goes to a local
 *   spool (fsync'd) and the emit resolves; while the spool holds events, new events queue behind
 *   them; a drain loop with backoff moves them, oldest first, into the chain (deduplicated by
 *   id, so a drain cut short is safe to repeat). If the spool cannot be written either, emits
 *   are refused (or logged: `on_failure: log`).
 */
import pg from 'pg';
import { GatehouseError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { chainEvent, GENESIS_HASH } from './chain.js';
import { settleUnstored, type AuditFailurePolicy, type PendingEmit } from './failure.js';
import { compileMatcher, decodeCursor, encodeCursor, eventField, searchText, typePrefix, type AuditQuery } from './query.js';
import { pageOf, type AuditBackend, type Positioned } from './reader.js';
import { toUnchainedEvent, type AuditEvent, type AuditInput } from './sink.js';
import { openSpool, type UnchainedEvent } from './spool.js';
import { createChainVerifier, type VerifyResult } from './verify.js';

export interface PostgresAuditOptions {
  url: string;
  /** Schema holding the tables (created if missing). */
  schema?: string;
  /** Where events wait while PostgreSQL is unreachable. */
  spoolDir: string;
  onFailure?: AuditFailurePolicy;
  retentionMs?: number;
  logger?: Logger;
  now?: () => Date;
  poolSize?: number;
  /** Largest batch per transaction. */
  maxBatch?: number;
}

const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

/** Versioned migrations; `S` is the quoted schema. Append, never edit. */
export const MIGRATIONS: ((S: string) => string[])[] = [
  (S) => [
    `CREATE TABLE ${S}.audit_events (
      seq bigint PRIMARY KEY,
      id uuid NOT NULL,
      time timestamptz NOT NULL,
      type text COLLATE "C" NOT NULL,
      outcome text NOT NULL,
      "user" text,
      session_id text,
      cluster text,
      node text,
      app text,
      search text COLLATE "C" NOT NULL,
      hash text NOT NULL,
      doc text NOT NULL
    )`,
    `CREATE UNIQUE INDEX audit_events_id ON ${S}.audit_events (id)`,
    `CREATE INDEX audit_events_time ON ${S}.audit_events (time, seq)`,
    `CREATE INDEX audit_events_type ON ${S}.audit_events (type, seq)`,
    `CREATE INDEX audit_events_user ON ${S}.audit_events ("user", seq)`,
    `CREATE INDEX audit_events_session ON ${S}.audit_events (session_id, seq) WHERE session_id IS NOT NULL`,
    `CREATE INDEX audit_events_cluster ON ${S}.audit_events (cluster, seq) WHERE cluster IS NOT NULL`,
    `CREATE INDEX audit_events_node ON ${S}.audit_events (node, seq) WHERE node IS NOT NULL`,
    `CREATE INDEX audit_events_app ON ${S}.audit_events (app, seq) WHERE app IS NOT NULL`,
  ],
];

/** PostgreSQL text cannot hold NUL; index columns carry U+001F instead (filters never contain control characters). */
const clean = (value: string | undefined): string | null => (value === undefined ? null : value.replaceAll('\u0000', '\u001f'));

/** The index columns of an event, derived from it alone (stored, and re-derived by verify). */
export function indexColumns(event: AuditEvent) {
  return {
    id: event.id,
    time: event.time,
    type: clean(event.type)!,
    outcome: event.outcome,
    user: clean(event.user),
    session_id: clean(eventField(event, 'session_id')),
    cluster: clean(eventField(event, 'cluster')),
    node: clean(eventField(event, 'node')),
    app: clean(eventField(event, 'app')),
    search: clean(searchText(event))!,
    hash: event.hash,
  };
}

const CURSOR = /^s:(\d{1,18})$/;
const likeEscape = (text: string) => text.replace(/[\\%_]/g, (c) => `\\${c}`);

export function createPostgresAuditBackend(options: PostgresAuditOptions): AuditBackend {
  const { logger } = options;
  const schema = options.schema ?? 'public';
  if (!SCHEMA_NAME.test(schema)) throw new Error(`invalid audit schema name "${schema}"`);
  const S = `"${schema}"`;
  const T = `${S}.audit_events`;
  const chainLockKey = `gatehouse-audit-chain:${schema}`;
  const now = options.now ?? (() => new Date());
  const onFailure = options.onFailure ?? 'refuse';
  const maxBatch = options.maxBatch ?? 1000;

  const pool = new pg.Pool({
    connectionString: options.url,
    max: options.poolSize ?? 4,
    connectionTimeoutMillis: 5000,
    idleTimeoutMillis: 30_000,
    query_timeout: 30_000,
    application_name: 'gatehouse-audit',
  });
  // Idle clients whose connection dies emit here; without a listener the process would crash.
  pool.on('error', (err) => logger?.warn({ err: err.message }, 'audit: idle PostgreSQL connection failed'));

  let schemaReady: Promise<void> | undefined;
  const ensureSchema = () =>
    (schemaReady ??= migrate().catch((err) => {
      schemaReady = undefined;
      throw err;
    }));

  async function migrate(): Promise<void> {
    await transaction(async (client) => {
      await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`gatehouse-audit-migrate:${schema}`]);
      await client.query(`CREATE SCHEMA IF NOT EXISTS ${S}`);
      await client.query(`CREATE TABLE IF NOT EXISTS ${S}.audit_migrations (version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`);
      const { rows } = await client.query<{ v: number }>(`SELECT coalesce(max(version), 0)::int AS v FROM ${S}.audit_migrations`);
      for (let v = rows[0].v; v < MIGRATIONS.length; v++) {
        for (const sql of MIGRATIONS[v](S)) await client.query(sql);
        await client.query(`INSERT INTO ${S}.audit_migrations (version) VALUES ($1)`, [v + 1]);
        logger?.info({ schema, version: v + 1 }, 'audit: PostgreSQL schema migrated');
      }
    });
  }

  async function transaction<R>(work: (client: pg.PoolClient) => Promise<R>): Promise<R> {
    const client = await pool.connect();
    // A checked-out client whose connection dies emits 'error'; the failing query reports it too.
    const onError = (err: Error) => logger?.debug({ err: err.message }, 'audit: PostgreSQL connection lost mid-transaction');
    client.on('error', onError);
    try {
      await client.query('BEGIN');
      const result = await work(client);
      await client.query('COMMIT');
      client.off('error', onError);
      client.release();
      return result;
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      client.off('error', onError);
      client.release(err as Error); // drop the connection: it may be broken
      throw err;
    }
  }

  /** Chains and inserts events under the chain lock; with `dedupe`, skips ids already stored. */
  async function insertBatch(events: UnchainedEvent[], dedupe: boolean): Promise<AuditEvent[]> {
    await ensureSchema();
    return transaction(async (client) => {
      await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [chainLockKey]);
      const { rows } = await client.query<{ seq: string; hash: string }>(`SELECT seq, hash FROM ${T} ORDER BY seq DESC LIMIT 1`);
      let seq = rows.length ? BigInt(rows[0].seq) : 0n;
      let prev = rows.length ? rows[0].hash : GENESIS_HASH;
      let todo = events;
      if (dedupe) {
        const existing = await client.query<{ id: string }>(`SELECT id FROM ${T} WHERE id = ANY($1::uuid[])`, [events.map((e) => e.id)]);
        const stored = new Set(existing.rows.map((r) => r.id));
        todo = events.filter((e) => !stored.has(e.id));
      }
      if (!todo.length) return [];
      const chained = todo.map((e) => {
        const event = chainEvent(e, prev);
        prev = event.hash;
        return event;
      });
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
          chained.map((e) => JSON.stringify(e)),
        ],
      );
      return chained;
    });
  }

  // --- delivery: direct, or through the spool --------------------------------------------------

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
    retryAt = Date.now() + Math.min(5000, 100 * 2 ** Math.min(failures, 6));
  };
  const markUp = () => {
    if (pgError !== undefined) logger?.info('audit: PostgreSQL reachable again');
    pgError = undefined;
    failures = 0;
    retryAt = 0;
  };
  const spooled = (event: UnchainedEvent): AuditEvent => ({ ...event, prev_hash: '', hash: '' });

  async function spoolPending(): Promise<void> {
    const batch = pending.splice(0);
    if (!batch.length) return;
    try {
      await spool.append(batch.map((b) => b.event));
      spoolError = undefined;
      batch.forEach((b) => b.resolve(spooled(b.event)));
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
        await insertBatch(events, true);
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
        if (Date.now() >= retryAt && (await drainSpool())) continue;
        if (!pending.length) break;
        await spoolPending();
        continue;
      }
      if (!pending.length) break;
      const batch = pending.splice(0, maxBatch);
      try {
        const chained = await insertBatch(
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
      retryTimer = setTimeout(kick, Math.max(0, retryAt - Date.now()));
      retryTimer.unref();
    }
  }

  function kick(): void {
    running ??= run()
      .catch((err) => logger?.error({ err }, 'audit: delivery loop failed'))
      .finally(() => {
        running = undefined;
        if (pending.length || (spool.size() > 0 && Date.now() >= retryAt && !closed)) kick();
      });
  }

  // --- reading -------------------------------------------------------------------------------

  const unavailable = (err: unknown) =>
    new GatehouseError('audit_unavailable', 'The audit database cannot be reached right now; try again shortly.', { status: 503, cause: err });

  async function* scan(query: AuditQuery, batchSize = 1000): AsyncGenerator<Positioned> {
    const where: string[] = [];
    const params: unknown[] = [];
    const param = (value: unknown) => `$${params.push(value)}`;
    if (query.from) where.push(`time >= ${param(query.from)}::timestamptz`);
    if (query.to) where.push(`time < ${param(query.to)}::timestamptz`);
    if (query.types?.length) {
      const exact: string[] = [];
      const alternatives: string[] = [];
      for (const t of query.types) {
        const prefix = typePrefix(t);
        if (prefix === undefined) exact.push(t);
        else if (prefix === '') alternatives.push('true');
        else {
          const upper = prefix.slice(0, -1) + String.fromCharCode(prefix.charCodeAt(prefix.length - 1) + 1);
          alternatives.push(`(type >= ${param(prefix)} AND type < ${param(upper)})`);
        }
      }
      if (exact.length) alternatives.push(`type = ANY(${param(exact)}::text[])`);
      where.push(`(${alternatives.join(' OR ')})`);
    }
    if (query.user !== undefined) where.push(`"user" = ${param(query.user)}`);
    if (query.outcome !== undefined) where.push(`outcome = ${param(query.outcome)}`);
    for (const name of ['session_id', 'cluster', 'node', 'app'] as const) {
      if (query[name] !== undefined) where.push(`${name} = ${param(query[name])}`);
    }
    if (query.q !== undefined) where.push(`search LIKE ${param(`%${likeEscape(query.q.toLowerCase())}%`)} ESCAPE '\\'`);
    if (query.id !== undefined) where.push(`id = ${param(query.id)}::uuid`);
    const asc = query.order === 'asc';
    let after: string | undefined = query.cursor ? decodeCursor(query.cursor, CURSOR)[1] : undefined;
    // The SQL narrows; the shared matcher confirms (no backend may return more than the definition).
    const match = compileMatcher(query);
    try {
      await ensureSchema();
    } catch (err) {
      throw unavailable(err);
    }
    for (;;) {
      const conditions = [...where];
      const batchParams = [...params];
      if (after !== undefined) conditions.push(`seq ${asc ? '>' : '<'} $${batchParams.push(after)}::bigint`);
      const sql = `SELECT seq, doc FROM ${T} ${conditions.length ? `WHERE ${conditions.join(' AND ')}` : ''}
                   ORDER BY seq ${asc ? 'ASC' : 'DESC'} LIMIT ${batchSize}`;
      let rows: { seq: string; doc: string }[];
      try {
        ({ rows } = await pool.query<{ seq: string; doc: string }>(sql, batchParams));
      } catch (err) {
        throw unavailable(err);
      }
      for (const row of rows) {
        const event = JSON.parse(row.doc) as AuditEvent;
        if (match(event)) yield { event, cursor: encodeCursor(`s:${row.seq}`) };
      }
      if (rows.length < batchSize) return;
      after = rows[rows.length - 1].seq;
      batchSize = 1000;
    }
  }

  async function verify(): Promise<VerifyResult> {
    try {
      await ensureSchema();
    } catch (err) {
      throw unavailable(err);
    }
    const verifier = createChainVerifier();
    let after = '0';
    for (;;) {
      const { rows } = await pool
        .query(
          `SELECT seq, id, time, type, outcome, "user", session_id, cluster, node, app, search, hash, doc
             FROM ${T} WHERE seq > $1::bigint ORDER BY seq LIMIT 5000`,
          [after],
        )
        .catch((err) => {
          throw unavailable(err);
        });
      for (const row of rows) {
        const location = `seq ${row.seq}`;
        let event: AuditEvent | undefined;
        try {
          event = JSON.parse(row.doc) as AuditEvent;
        } catch {
          event = undefined;
        }
        if (verifier.add(event, location, row.id)) return verifier.finish();
        const expected = indexColumns(event!);
        const mismatched = Object.entries(expected).find(([key, value]) =>
          key === 'time' ? (row.time as Date).getTime() !== Date.parse(value as string) : (row[key] ?? null) !== value,
        );
        if (mismatched) {
          verifier.fail('index_mismatch', location, event!.id, `column "${mismatched[0]}"`);
          return verifier.finish();
        }
      }
      if (rows.length < 5000) return verifier.finish();
      after = rows[rows.length - 1].seq;
    }
  }

  let pruning: Promise<void> | undefined;
  const prune = () =>
    (pruning ??= pruneOnce().finally(() => {
      pruning = undefined;
    }));
  async function pruneOnce(): Promise<void> {
    if (options.retentionMs === undefined) return;
    await ensureSchema();
    const cutoff = new Date(now().getTime() - options.retentionMs).toISOString();
    const { rows } = await pool.query<{ seq: string; hash: string }>(
      `SELECT seq, hash FROM ${T} WHERE time < $1::timestamptz ORDER BY seq DESC LIMIT 1`,
      [cutoff],
    );
    if (!rows.length) return;
    // Recorded before anything is removed: verification starts from this anchor.
    await backend.emit({
      type: 'audit.pruned',
      outcome: 'success',
      details: { before: cutoff, through_seq: Number(rows[0].seq), anchor: rows[0].hash, retention_ms: options.retentionMs },
    });
    await pool.query(`DELETE FROM ${T} WHERE seq <= $1::bigint`, [rows[0].seq]);
  }

  const backend: AuditBackend = {
    kind: 'postgres',
    emit(input: AuditInput) {
      if (closed) return Promise.reject(new Error('audit sink is closed'));
      const event = toUnchainedEvent(input, now());
      return new Promise<AuditEvent>((resolve, reject) => {
        pending.push({ event, resolve, reject });
        kick();
      });
    },
    scan: (query) => scan(query),
    query: (query) => pageOf(scan(query, Math.min(query.limit + 1, 1001)), query.limit),
    verify,
    prune,
    async status() {
      const waiting = spool.count() - drained;
      if (pgError === undefined || Date.now() >= retryAt) {
        try {
          await ensureSchema();
          await pool.query('SELECT 1');
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
      clearInterval(pruneTimer);
      while (running) await running;
      await spool.close();
      await pool.end();
    },
  };

  // Start order never matters: connect and migrate in the background; drain a spool left from before.
  ensureSchema().then(markUp, markDown);
  if (spool.size() > 0) kick();
  const runPrune = () => prune().catch((err) => logger?.warn({ err: (err as Error).message }, 'audit retention failed'));
  if (options.retentionMs !== undefined) void runPrune();
  const pruneTimer = setInterval(runPrune, 3_600_000);
  pruneTimer.unref();
  return backend;
}
