// Audit log benchmark (npx tsx bench/audit.ts). Bounded: about a minute on a 2-core machine.
//
// 1. Durable appends per second: our group commit (64 emits in flight) vs the naive baseline of one
//    write+fsync (file) or one autocommitted INSERT (PostgreSQL) per event.
// 2. First-page latency (50 events, newest first) of filtered queries: PostgreSQL over 1,000,000
//    events bulk-loaded with generate_series into a throwaway schema (dropped after), vs the same
//    query with index scans disabled; the file backend over 200,000 events vs reading and parsing
//    every file (what a client-side search does).
// 3. Chain verification speed (events/s) vs the floor of hashing the same bytes once with SHA-256.
// Everything runs on 127.0.0.1; PostgreSQL parts are skipped (and said so) when it is not reachable.
// A measurement that fails shows "FAILED: <message>" in its row and the bench goes on.
import { createHash } from 'node:crypto';
import { closeSync, fsyncSync, mkdtempSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { auditFiles, createFileAuditBackend } from '../src/audit/file.js';
import { createPostgresAuditBackend, MIGRATIONS } from '../src/audit/postgres.js';
import type { AuditQuery } from '../src/audit/query.js';
import type { AuditBackend } from '../src/audit/reader.js';
import type { AuditEvent, AuditInput } from '../src/audit/sink.js';
import { toUnchainedEvent } from '../src/audit/sink.js';
import { errorMessage, failedCells, failedRows, row, tryRow } from './lib/rows.js';

const PG_URL = process.env.GATEHOUSE_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const PG_EVENTS = 1_000_000;
const FILE_EVENTS = 200_000;
const rows: string[][] = [];
const WIDTH = 4;
const fmt = (n: number, digits = 0) => n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
const ms = (n: number) => `${fmt(n, n < 10 ? 2 : 1)} ms`;
const ratio = (a: number, b: number) => `${fmt(a / b, a / b < 0.1 ? 3 : a / b < 10 ? 1 : 0)}×`;
const log = (msg: string) => process.stderr.write(`${msg}\n`);

const USERS = Array.from({ length: 500 }, (_, i) => `user${i}`);
const input = (i: number): AuditInput => ({
  type: (['user.login', 'user.logout', 'http.rejected', 'audit.read'] as const)[i % 4],
  outcome: i % 7 === 0 ? 'failure' : 'success',
  user: USERS[i % USERS.length],
  session_id: `s${i % 20_000}`,
  cluster: ['prod', 'staging', 'dev'][i % 3],
  node: `node-${i % 50}`,
  context: { remoteAddr: '10.0.0.1', userAgent: 'kubectl/v1.30.0', requestId: `req-${i}` },
  details: { note: i % 10_000 === 0 ? 'needle-in-haystack' : 'routine', n: i },
});

async function throughput(emit: (i: number) => Promise<unknown>, count: number, inFlight: number): Promise<number> {
  let next = 0;
  const start = performance.now();
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (next < count) await emit(next++);
    }),
  );
  return count / ((performance.now() - start) / 1000);
}

async function median(fn: () => Promise<unknown>, runs = 5): Promise<number> {
  const times: number[] = [];
  await fn(); // warm
  for (let i = 0; i < runs; i++) {
    const start = performance.now();
    await fn();
    times.push(performance.now() - start);
  }
  return times.sort((a, b) => a - b)[Math.floor(runs / 2)];
}

const QUERIES: { name: string; query: Partial<AuditQuery> }[] = [
  { name: 'no filter', query: {} },
  { name: 'user = user42', query: { user: 'user42' } },
  { name: 'type = user.login', query: { types: ['user.login'] } },
  { name: 'type = audit.* and outcome = failure', query: { types: ['audit.*'], outcome: 'failure' } },
  { name: 'session_id = s1234 (rare)', query: { session_id: 's1234' } },
  { name: 'cluster = prod, node = node-7', query: { cluster: 'prod', node: 'node-7' } },
  { name: 'text "needle-in" (very rare)', query: { q: 'needle-in' } },
];

// --- file ----------------------------------------------------------------------------------------

async function benchFile() {
  const dir = mkdtempSync(join(tmpdir(), 'gh-bench-audit-'));
  try {
    rows.push(
      await row('File: durable appends/s', WIDTH, async () => {
        // Baseline: one write + fsync per event.
        const naive = join(dir, 'naive.jsonl');
        const fd = openSync(naive, 'a');
        let baseline: number;
        try {
          baseline = await throughput(
            async (i) => {
              writeSync(fd, `${JSON.stringify(toUnchainedEvent(input(i)))}\n`);
              fsyncSync(fd);
            },
            500,
            1,
          );
        } finally {
          closeSync(fd);
        }
        const b = createFileAuditBackend({ dir: join(dir, 'appends') });
        try {
          const serial = await throughput((i) => b.emit(input(i)), 500, 1);
          const grouped = await throughput((i) => b.emit(input(i)), 20_000, 64);
          return [`${fmt(grouped)} (64 in flight); ${fmt(serial)} (1 in flight)`, `${fmt(baseline)} (write+fsync each)`, ratio(grouped, baseline)];
        } finally {
          await b.close();
        }
      }),
    );

    // 200,000 events over 10 days, written through the backend in large groups.
    const queryDir = join(dir, 'query');
    let clock = Date.parse('2026-01-01T00:00:00Z');
    const q = createFileAuditBackend({ dir: queryDir, clock: { now: () => (clock += 4321) } });
    try {
      const label = `File, ${fmt(FILE_EVENTS)} events`;
      log(`file: writing ${fmt(FILE_EVENTS)} events…`);
      const loaded = await tryRow(`${label}: writing`, async () => {
        for (let i = 0; i < FILE_EVENTS; i += 10_000) await Promise.all(Array.from({ length: 10_000 }, (_, j) => q.emit(input(i + j))));
      });
      if (!loaded.ok) {
        rows.push(failedCells(`${label}: writing them (no queries or verification)`, loaded.cell, WIDTH));
        return;
      }
      const lastDay = new Date(clock).toISOString().slice(0, 10);
      const queries = [...QUERIES, { name: 'last day, user = user42', query: { from: `${lastDay}T00:00:00.000Z`, user: 'user42' } }];
      for (const { name, query } of queries) {
        rows.push(
          await row(`${label}: first page, ${name}`, WIDTH, async () => {
            const full = { limit: 50, order: 'desc' as const, ...query };
            const ours = await median(() => q.query(full), 3);
            const naiveScan = await median(async () => {
              // Client-side search: read and parse everything, filter, take the newest 50.
              const all = auditFiles(queryDir).flatMap((f) =>
                readFileSync(f, 'utf8')
                  .split('\n')
                  .filter(Boolean)
                  .map((l) => JSON.parse(l) as AuditEvent),
              );
              const user = query.user;
              return all.filter((e) => user === undefined || e.user === user).slice(-50);
            }, 1);
            return [ms(ours), ms(naiveScan), ratio(naiveScan, ours)];
          }),
        );
      }
      // Verification speed vs hashing the same bytes once.
      rows.push(
        await row('File: chain verification, events/s', WIDTH, async () => {
          const bytes = auditFiles(queryDir).reduce((sum, f) => sum + readFileSync(f).length, 0);
          const start = performance.now();
          const result = await q.verify();
          const verifySecs = (performance.now() - start) / 1000;
          const floorStart = performance.now();
          for (const f of auditFiles(queryDir)) createHash('sha256').update(readFileSync(f)).digest();
          const floorSecs = (performance.now() - floorStart) / 1000;
          if (!result.ok) throw new Error('bench chain does not verify');
          return [
            fmt(result.events / verifySecs),
            `${fmt(result.events / floorSecs)} (one SHA-256 over the files, ${fmt(bytes / 1e6)} MB)`,
            ratio(result.events / verifySecs, result.events / floorSecs),
          ];
        }),
      );
    } finally {
      await q.close().catch((err: unknown) => log(`file: closing the backend: ${errorMessage(err)}`));
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// --- PostgreSQL -------------------------------------------------------------------------------------

async function benchPostgres() {
  const admin = new pg.Client({ connectionString: PG_URL });
  admin.on('error', (err) => log(`postgres: the admin connection failed: ${err.message}`)); // its queries then fail their rows
  try {
    await admin.connect();
  } catch (err) {
    rows.push(['PostgreSQL', `skipped: ${(err as Error).message}`, '', '']);
    return;
  }
  const schema = `bench_audit_${process.pid}_${Date.now()}`;
  const spool = mkdtempSync(join(tmpdir(), 'gh-bench-spool-'));
  const backends: AuditBackend[] = [];
  try {
    const created = await tryRow('PostgreSQL: schema', () =>
      admin.query(`CREATE SCHEMA "${schema}"; CREATE TABLE "${schema}".naive (id uuid PRIMARY KEY, doc text NOT NULL)`),
    );
    if (!created.ok) {
      rows.push(failedCells('PostgreSQL: creating a throwaway schema (nothing else measured)', created.cell, WIDTH));
      return;
    }
    const b = createPostgresAuditBackend({ url: PG_URL, schema, spoolDir: spool });
    backends.push(b);
    rows.push(
      await row('PostgreSQL: durable appends/s', WIDTH, async () => {
        // Baseline: one autocommitted INSERT per event, one connection.
        const baseline = await throughput(
          async (i) => {
            const e = toUnchainedEvent(input(i));
            await admin.query(`INSERT INTO "${schema}".naive VALUES ($1, $2)`, [e.id, JSON.stringify(e)]);
          },
          1000,
          1,
        );
        await b.emit(input(0));
        const serial = await throughput((i) => b.emit(input(i)), 500, 1);
        const grouped = await throughput((i) => b.emit(input(i)), 30_000, 64);
        return [`${fmt(grouped)} (64 in flight); ${fmt(serial)} (1 in flight)`, `${fmt(baseline)} (INSERT per event)`, ratio(grouped, baseline)];
      }),
    );

    const verified = await tryRow('PostgreSQL: chain verification', async () => {
      const start = performance.now();
      const result = await b.verify();
      const secs = (performance.now() - start) / 1000;
      if (!result.ok) throw new Error('bench chain does not verify');
      const { rows: docs } = await admin.query<{ doc: string }>(`SELECT doc FROM "${schema}".audit_events ORDER BY seq`);
      const floorStart = performance.now();
      for (const { doc } of docs) createHash('sha256').update(doc).digest();
      const floorSecs = (performance.now() - floorStart) / 1000;
      return [
        `PostgreSQL: chain verification, events/s (${fmt(result.events)} events)`,
        fmt(result.events / secs),
        `${fmt(result.events / floorSecs)} (SHA-256 per stored doc, already fetched)`,
        ratio(result.events / secs, result.events / floorSecs),
      ];
    });
    rows.push(verified.ok ? verified.value : failedCells('PostgreSQL: chain verification, events/s', verified.cell, WIDTH));

    // 1,000,000 rows for queries, in their own table (hashes are not chained: queries do not care).
    const label = `PostgreSQL, ${fmt(PG_EVENTS)} events`;
    const loaded = await tryRow(`${label}: bulk load`, async () => {
      log(`postgres: bulk-loading ${fmt(PG_EVENTS)} events with generate_series…`);
      const loadStart = performance.now();
      await admin.query(`TRUNCATE "${schema}".audit_events`);
      // Loading without the secondary indexes and building them after is much faster than maintaining them row by row.
      const indexes = MIGRATIONS.flatMap((m) => m(`"${schema}"`)).filter((sql) => /^CREATE (UNIQUE )?INDEX/.test(sql));
      for (const sql of indexes) await admin.query(`DROP INDEX "${schema}".${/INDEX (\w+)/.exec(sql)![1]}`);
      await admin.query(`
        INSERT INTO "${schema}".audit_events (seq, id, time, type, outcome, "user", session_id, cluster, node, app, search, hash, doc)
        SELECT i, id, t, type, outcome, usr, sid, cl, nd, NULL, lower(concat_ws(chr(31), id, t, type, outcome, usr, sid, cl, nd, note)), md5(i::text) || md5(i::text),
               json_build_object('id', id, 'time', to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'), 'type', type, 'code', 'GH0000I',
                                 'outcome', outcome, 'user', usr, 'session_id', sid, 'cluster', cl, 'node', nd,
                                 'details', json_build_object('note', note, 'n', i), 'prev_hash', '', 'hash', md5(i::text) || md5(i::text))::text
        FROM (
          SELECT i, gen_random_uuid() AS id,
                 timestamptz '2026-01-01 00:00:00+00' + i * interval '2 seconds' AS t,
                 (ARRAY['user.login','user.logout','http.rejected','audit.read'])[i % 4 + 1] AS type,
                 CASE WHEN i % 7 = 0 THEN 'failure' ELSE 'success' END AS outcome,
                 'user' || (i % 500) AS usr, 's' || (i % 20000) AS sid,
                 (ARRAY['prod','staging','dev'])[i % 3 + 1] AS cl, 'node-' || (i % 50) AS nd,
                 CASE WHEN i % 10000 = 0 THEN 'needle-in-haystack' ELSE 'routine' END AS note
          FROM generate_series(1, ${PG_EVENTS}) AS i
        ) AS g`);
      for (const sql of indexes) await admin.query(sql);
      await admin.query(`ANALYZE "${schema}".audit_events`);
      log(`postgres: loaded in ${fmt((performance.now() - loadStart) / 1000, 1)} s`);
    });
    if (!loaded.ok) {
      rows.push(failedCells(`${label}: bulk load (no queries)`, loaded.cell, WIDTH));
      return;
    }
    const q = createPostgresAuditBackend({ url: PG_URL, schema, spoolDir: spool });
    backends.push(q);
    const lastDay = '2026-01-24T00:00:00.000Z';
    const queries = [...QUERIES, { name: 'last day, user = user42', query: { from: lastDay, user: 'user42' } }];
    const noIndex = new pg.Client({ connectionString: PG_URL });
    noIndex.on('error', (err) => log(`postgres: the no-index connection failed: ${err.message}`));
    const connected = await tryRow(`${label}: no-index connection`, async () => {
      await noIndex.connect();
      await noIndex.query('SET enable_indexscan = off; SET enable_bitmapscan = off; SET enable_indexonlyscan = off');
    });
    try {
      for (const { name, query } of queries) {
        rows.push(
          await row(`${label}: first page, ${name}`, WIDTH, async () => {
            if (!connected.ok) throw new Error(`no baseline connection: ${connected.error}`);
            const full = { limit: 50, order: 'desc' as const, ...query };
            const ours = await median(() => q.query(full), 5);
            // The same filter without indexes: a sequential scan and a sort (SQL from the same query).
            const where: string[] = [];
            const params: unknown[] = [];
            if (query.user) where.push(`"user" = $${params.push(query.user)}`);
            if (query.types)
              where.push(
                query.types[0].endsWith('.*') ? `type LIKE $${params.push(query.types[0].slice(0, -1) + '%')}` : `type = $${params.push(query.types[0])}`,
              );
            if (query.outcome) where.push(`outcome = $${params.push(query.outcome)}`);
            if (query.session_id) where.push(`session_id = $${params.push(query.session_id)}`);
            if (query.cluster) where.push(`cluster = $${params.push(query.cluster)}`);
            if (query.node) where.push(`node = $${params.push(query.node)}`);
            if (query.q) where.push(`search LIKE $${params.push(`%${query.q}%`)}`);
            if (query.from) where.push(`time >= $${params.push(query.from)}`);
            const sql = `SELECT doc FROM "${schema}".audit_events ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY seq DESC LIMIT 51`;
            const base = await median(() => noIndex.query(sql, params), 3);
            return [ms(ours), ms(base), ratio(base, ours)];
          }),
        );
      }
    } finally {
      await noIndex.end().catch(() => undefined);
    }
  } finally {
    for (const b of backends) await b.close().catch(() => undefined);
    await admin
      .query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`)
      .catch((err: unknown) => log(`postgres: could not drop schema ${schema}: ${errorMessage(err)}`));
    await admin.end().catch(() => undefined);
    rmSync(spool, { recursive: true, force: true });
  }
}

const started = performance.now();
// Each half catches its own rows; what escapes (setup, cleanup) becomes one failed row.
for (const [name, half] of [
  ['File backend', benchFile],
  ['PostgreSQL backend', benchPostgres],
] as const) {
  const r = await tryRow(name, half);
  if (!r.ok) rows.push(failedCells(name, r.cell, WIDTH));
}
console.log(`\n| measurement | Gatehouse | baseline | ratio |\n|---|---|---|---|`);
for (const r of rows) console.log(`| ${r.join(' | ')} |`);
console.log(
  `\n(${process.arch}, ${(await import('node:os')).cpus().length} cores, Node ${process.version}; total ${fmt((performance.now() - started) / 1000, 0)} s)`,
);
if (failedRows > 0) process.exitCode = 1;
