// bench/db: PostgreSQL and MariaDB direct vs through Gatehouse's db listener (audit on: one
// db.query event per statement, transcripts recorded), in one run, on 127.0.0.1.
//   npx tsx bench/db.ts    (BENCH_DB_SECONDS=15 BENCH_DB_CLIENTS=10 BENCH_DB_COPY_MB=50 BENCH_DB_IDLE=200)
// Uses GATEHOUSE_TEST_PG_URL (and GATEHOUSE_TEST_MYSQL_URL) when set, else starts the test services
// (scripts/test-services.mjs). Rows: pgbench -S (select-only) and TPC-B-like with N clients (TPS,
// p99 latency from pgbench's per-transaction log), \copy in and out (MB/s), gateway RSS per idle
// session, and a MariaDB select loop (N mysql2 connections, one primary-key SELECT at a time).
// pgbench and \copy also run through a bare Node TLS relay (bench/lib/pg-tls-relay.ts), the floor
// any Node relay with TLS on the client leg pays on this machine.
// Each load through the gateway reports the gateway's event loop and GC; BENCH_PROFILE=DIR also
// writes a CPU profile of the gateway for each and prints its top functions.
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { startTestServices } from '../scripts/test-services.mjs';
import { runChild } from '../test/helpers/processes.js';
import { postgresBin } from '../test/helpers/peers/postgres-server.js';
import { makeTls } from '../test/helpers/peers/tls.js';
import { cpuTimeMs, killAll, startServer } from './lib/children.js';
import { formatProfile, readProfile, summarizeProfile } from './lib/cpu-profile.js';
import type { DbGatewayReady } from './lib/db-gateway-server.js';
import { formatDelay, formatGc, probe } from './lib/loop-probe.js';
import { markdownTable } from './lib/report.js';
import { reportStrayErrors, tryRow } from './lib/rows.js';

const count = (name: string, fallback: number) => {
  const value = Math.floor(Number(process.env[name] ?? fallback));
  return Number.isFinite(value) && value > 0 ? value : fallback;
};
const SECONDS = count('BENCH_DB_SECONDS', 15);
const CLIENTS = count('BENCH_DB_CLIENTS', 10);
const COPY_MB = count('BENCH_DB_COPY_MB', 50);
const IDLE = count('BENCH_DB_IDLE', 200);
const WATCHDOG_MS = 10 * 60_000;
const PROFILE_DIR = process.env.BENCH_PROFILE;
if (PROFILE_DIR) mkdirSync(PROFILE_DIR, { recursive: true });

reportStrayErrors('bench/db');
const watchdog = setTimeout(() => {
  process.stderr.write('bench/db: watchdog: giving up after 10 minutes\n');
  killAll();
  process.exit(2);
}, WATCHDOG_MS);
watchdog.unref();

const dir = mkdtempSync(join(tmpdir(), 'gatehouse-bench-db-'));
const services = process.env.GATEHOUSE_TEST_PG_URL ? undefined : await startTestServices(() => {});
const pgUrl = new URL(process.env.GATEHOUSE_TEST_PG_URL ?? services!.env.GATEHOUSE_TEST_PG_URL);
const database = `bench_db_${process.pid}`;
const admin = async (text: string) => {
  const client = new pg.Client({ connectionString: pgUrl.href });
  await client.connect();
  try {
    await client.query(text);
  } finally {
    await client.end();
  }
};
await admin(`CREATE DATABASE ${database}`);
const mysqlUrlText = process.env.GATEHOUSE_TEST_MYSQL_URL ?? services?.env.GATEHOUSE_TEST_MYSQL_URL;
const maria = mysqlUrlText
  ? { host: '127.0.0.1', port: Number(new URL(mysqlUrlText).port || 3306), user: `bench_${process.pid}`, password: randomBytes(12).toString('base64url') }
  : undefined;
const mysqlRoot = async (text: string) => {
  const conn = await mysql.createConnection({ host: maria!.host, port: maria!.port, user: 'root', multipleStatements: true });
  try {
    await conn.query(text);
  } finally {
    await conn.end();
  }
};
// A MariaDB that cannot be set up costs its row only.
const mariaSetUp =
  !!maria &&
  (await mysqlRoot(
    `CREATE DATABASE IF NOT EXISTS ${database}; CREATE USER '${maria.user}'@'%' IDENTIFIED BY '${maria.password}'; GRANT ALL ON ${database}.* TO '${maria.user}'@'%';` +
      ` CREATE TABLE ${database}.kv (id INT PRIMARY KEY, v VARCHAR(100)); INSERT INTO ${database}.kv SELECT seq, CONCAT('value-', seq) FROM ${database}.seq_1_to_10000;`,
  ).then(
    () => true,
    (err: Error) => (process.stderr.write(`bench/db: MariaDB setup failed: ${err.message}\n`), false),
  ));
const gw = await startServer<DbGatewayReady>(new URL('./lib/db-gateway-server.ts', import.meta.url), {
  BENCH_PG_HOST_PORT: `127.0.0.1:${pgUrl.port || 5432}`,
  BENCH_DATA_DIR: join(dir, 'gateway'),
  ...(maria && mariaSetUp ? { BENCH_MYSQL_HOST_PORT: `${maria.host}:${maria.port}`, BENCH_MYSQL_USER: maria.user, BENCH_MYSQL_PASSWORD: maria.password } : {}),
});
const files = { cert: join(dir, 'client.crt'), key: join(dir, 'client.key'), ca: join(dir, 'ca.crt') };
writeFileSync(files.cert, gw.ready.cert);
writeFileSync(files.key, gw.ready.key, { mode: 0o600 });
writeFileSync(files.ca, gw.ready.ca);
const relayTls = makeTls();
const relay = await startServer(new URL('./lib/pg-tls-relay.ts', import.meta.url), {
  BENCH_PG_HOST_PORT: `127.0.0.1:${pgUrl.port || 5432}`,
  BENCH_TLS_DIR: relayTls.dir,
});
const direct = `host=127.0.0.1 port=${pgUrl.port || 5432} user=postgres dbname=${database} sslmode=disable`;
const through = `host=127.0.0.1 port=${gw.ready.dbPort} user=postgres dbname=${database} sslmode=verify-full sslrootcert=${files.ca} sslcert=${files.cert} sslkey=${files.key} gssencmode=disable`;

const bare = `host=127.0.0.1 port=${new URL(relay.ready.url).port} user=postgres dbname=${database} sslmode=verify-full sslrootcert=${relayTls.caFile} gssencmode=disable`;

const bin = postgresBin();
const pgbench = bin ? join(bin, 'pgbench') : 'pgbench';
const ratio = (a: number, b: number) => `${(a / b).toFixed(2)}×`;
const rows: string[][] = [];
/** The same loads through the bare Node TLS relay: Node's floor for a relay with TLS on the client leg. */
const floor: string[][] = [];
const floorRow = (name: string, d: number, r: number, t: number, unit: string, cpu: [string, string] = ['', '']) =>
  floor.push([name, `${d.toFixed(0)}${unit}`, `${r.toFixed(0)}${unit}`, `${t.toFixed(0)}${unit}`, ratio(r, d), ratio(t, r), ...cpu]);

/** Runs `load` and adds the CPU time (ms) process `pid` used meanwhile. */
async function withCpu<T>(pid: number | undefined, load: () => Promise<T>): Promise<T & { cpuMs: number }> {
  const before = cpuTimeMs(pid) ?? NaN;
  const result = await load();
  return { ...result, cpuMs: (cpuTimeMs(pid) ?? NaN) - before };
}
const perTx = (run: { cpuMs: number; tps: number }) => `${((run.cpuMs * 1000) / (run.tps * SECONDS)).toFixed(0)} µs`;
const loops: string[][] = [];
const profiles: { label: string; file: string }[] = [];

/** Runs `load` through the gateway inside a probe window: its event loop, GC and (BENCH_PROFILE) CPU profile. */
async function watched<T>(label: string, load: () => Promise<T>): Promise<T> {
  const file = PROFILE_DIR ? join(PROFILE_DIR, `db-${label.replace(/[^a-z0-9]+/gi, '-').toLowerCase()}.cpuprofile`) : undefined;
  await probe(gw.child, 'start', file);
  const result = await load();
  const stats = await probe(gw.child, 'stop', file);
  loops.push([label, formatDelay(stats), stats ? `${(stats.utilization * 100).toFixed(0)}%` : '–', formatGc(stats)]);
  if (file) profiles.push({ label, file });
  return result;
}

/** TPS and p99 latency (ms) of one pgbench run, from its summary and per-transaction log. */
async function pgbenchRun(conninfo: string, label: string, selectOnly: boolean): Promise<{ tps: number; p99: number }> {
  const logDir = mkdtempSync(join(dir, `log-${label}-`));
  const r = await runChild(
    pgbench,
    [...(selectOnly ? ['-S'] : []), '-n', '-c', String(CLIENTS), '-j', '2', '-T', String(SECONDS), '-l', `--log-prefix=${join(logDir, 'tx')}`, conninfo],
    { timeoutMs: (SECONDS + 60) * 1000 },
  );
  if (r.code !== 0) throw new Error(`pgbench ${label}: ${r.stderr.trim() || r.stdout.trim()}`);
  const tps = Number(/tps = ([\d.]+) \(without initial connection time\)/.exec(r.stdout)?.[1]);
  const latencies = readdirSync(logDir)
    .flatMap((f) => readFileSync(join(logDir, f), 'utf8').trim().split('\n'))
    .map((line) => Number(line.split(' ')[2]))
    .filter((n) => Number.isFinite(n))
    .sort((a, b) => a - b);
  const p99 = latencies[Math.floor(latencies.length * 0.99)] / 1000;
  rmSync(logDir, { recursive: true, force: true });
  return { tps, p99 };
}

async function pgbenchRows(name: string, selectOnly: boolean, target: string) {
  const d = await pgbenchRun(direct, `${name}-direct`, selectOnly);
  const r = await withCpu(relay.child.pid, () => pgbenchRun(bare, `${name}-relay`, selectOnly));
  const t = await watched(name, () => withCpu(gw.child.pid, () => pgbenchRun(through, `${name}-gatehouse`, selectOnly)));
  floorRow(`${name}: TPS`, d.tps, r.tps, t.tps, '', [perTx(r), perTx(t)]);
  floorRow(`${name}: p99 latency (µs)`, d.p99 * 1000, r.p99 * 1000, t.p99 * 1000, ' µs');
  rows.push([`${name}: TPS (${CLIENTS} clients, ${SECONDS} s)`, d.tps.toFixed(0), t.tps.toFixed(0), ratio(t.tps, d.tps), target]);
  rows.push([
    `${name}: p99 latency`,
    `${d.p99.toFixed(2)} ms`,
    `${t.p99.toFixed(2)} ms`,
    `+${(t.p99 - d.p99).toFixed(2)} ms`,
    selectOnly ? 'at most +1 ms' : '',
  ]);
}

await tryRow('pgbench init', async () => {
  const r = await runChild(pgbench, ['-i', '-q', '-s', '10', direct], { timeoutMs: 300_000 });
  if (r.code !== 0) throw new Error(r.stderr);
});
const selectOnly = await tryRow('pgbench -S', () => pgbenchRows('pgbench -S (select-only)', true, 'at least 0.70×'));
if (!selectOnly.ok) rows.push(['pgbench -S', selectOnly.cell, '', '', '']);
const tpcb = await tryRow('pgbench TPC-B', () => pgbenchRows('pgbench TPC-B-like', false, ''));
if (!tpcb.ok) rows.push(['pgbench TPC-B-like', tpcb.cell, '', '', '']);

const copy = await tryRow('COPY', async () => {
  const input = join(dir, 'copy.txt');
  const line = `${'x'.repeat(1000)}\n`;
  writeFileSync(input, line.repeat(Math.ceil((COPY_MB * 1024 * 1024) / line.length)));
  await admin(`ALTER DATABASE ${database} SET synchronous_commit = off`);
  const psql = async (conninfo: string, command: string) => {
    const started = process.hrtime.bigint();
    const r = await runChild('psql', [conninfo, '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-c', command], { timeoutMs: 300_000 });
    if (r.code !== 0) throw new Error(r.stderr);
    return Number(process.hrtime.bigint() - started) / 1e9;
  };
  const mbps = (seconds: number) => COPY_MB / seconds;
  const results: Record<string, number> = {};
  for (const [label, conninfo] of [
    ['direct', direct],
    ['relay', bare],
    ['gatehouse', through],
  ]) {
    await psql(direct, 'DROP TABLE IF EXISTS copy_bench; CREATE UNLOGGED TABLE copy_bench (line text)');
    const timed = (what: string, load: () => Promise<number>) => (label === 'gatehouse' ? watched(what, load) : load());
    results[`${label}-in`] = mbps(await timed('\\copy in', () => psql(conninfo, `\\copy copy_bench FROM '${input}'`)));
    results[`${label}-out`] = mbps(await timed('\\copy out', () => psql(conninfo, `\\copy copy_bench TO '${join(dir, `out-${label}.txt`)}'`)));
  }
  rows.push([
    `\\copy in (${COPY_MB} MB)`,
    `${results['direct-in'].toFixed(0)} MB/s`,
    `${results['gatehouse-in'].toFixed(0)} MB/s`,
    ratio(results['gatehouse-in'], results['direct-in']),
    'at least 0.60×',
  ]);
  rows.push([
    `\\copy out (${COPY_MB} MB)`,
    `${results['direct-out'].toFixed(0)} MB/s`,
    `${results['gatehouse-out'].toFixed(0)} MB/s`,
    ratio(results['gatehouse-out'], results['direct-out']),
    'at least 0.60×',
  ]);
  for (const way of ['in', 'out']) floorRow(`\\copy ${way}`, results[`direct-${way}`], results[`relay-${way}`], results[`gatehouse-${way}`], ' MB/s');
});
if (!copy.ok) rows.push(['\\copy', copy.cell, '', '', '']);

const rss = (pid: number) => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? NaN) * 1024;
const idle = await tryRow('idle sessions', async () => {
  const pid = gw.child.pid!;
  const ssl = { ca: gw.ready.ca, cert: gw.ready.cert, key: gw.ready.key };
  const open = async (n: number) => {
    const clients: pg.Client[] = [];
    for (let i = 0; i < n; i += 20)
      clients.push(
        ...(await Promise.all(
          Array.from({ length: Math.min(20, n - i) }, async () => {
            const c = new pg.Client({ host: '127.0.0.1', port: gw.ready.dbPort, user: 'postgres', database, ssl });
            await c.connect();
            await c.query('SELECT 1');
            return c;
          }),
        )),
      );
    return clients;
  };
  const settle = () => new Promise((r) => setTimeout(r, 2000));
  // A first batch warms the code paths and TLS contexts, so the growth measured is per session.
  const warm = await open(20);
  await settle();
  const before = rss(pid);
  const clients = await open(IDLE);
  await settle();
  const after = rss(pid);
  await Promise.all([...warm, ...clients].map((c) => c.end()));
  const perSession = (after - before) / IDLE / 1024;
  rows.push([`gateway RSS per idle session (${IDLE} open)`, '', `${perSession.toFixed(0)} KiB`, '', 'at most 256 KiB']);
});
if (!idle.ok) rows.push(['idle sessions', idle.cell, '', '', '']);

/** Queries per second and p99 latency (ms) of CLIENTS connections each running primary-key SELECTs back to back. */
async function selectLoop(options: mysql.ConnectionOptions): Promise<{ qps: number; p99: number }> {
  const conns = await Promise.all(Array.from({ length: CLIENTS }, () => mysql.createConnection({ ...options, database })));
  const latencies: number[] = [];
  const until = Date.now() + SECONDS * 1000;
  await Promise.all(
    conns.map(async (conn, i) => {
      for (let n = i; Date.now() < until; n++) {
        const started = process.hrtime.bigint();
        await conn.query('SELECT v FROM kv WHERE id = ?', [(n % 10000) + 1]);
        latencies.push(Number(process.hrtime.bigint() - started) / 1e6);
      }
    }),
  );
  await Promise.all(conns.map((c) => c.end()));
  latencies.sort((a, b) => a - b);
  return { qps: latencies.length / SECONDS, p99: latencies[Math.floor(latencies.length * 0.99)] };
}
const mariaRow = await tryRow('MariaDB select loop', async () => {
  if (!maria || !gw.ready.mysql) throw new Error('no MariaDB (GATEHOUSE_TEST_MYSQL_URL)');
  const d = await selectLoop({ host: maria.host, port: maria.port, user: maria.user, password: maria.password });
  const t = await watched('MariaDB select loop', () =>
    selectLoop({
      host: '127.0.0.1',
      port: gw.ready.dbPort,
      user: maria.user,
      ssl: { ca: gw.ready.ca, cert: gw.ready.mysql!.cert, key: gw.ready.mysql!.key },
    }),
  );
  rows.push([`MariaDB select loop: queries/s (${CLIENTS} clients, ${SECONDS} s)`, d.qps.toFixed(0), t.qps.toFixed(0), ratio(t.qps, d.qps), '']);
  rows.push(['MariaDB select loop: p99 latency', `${d.p99.toFixed(2)} ms`, `${t.p99.toFixed(2)} ms`, `+${(t.p99 - d.p99).toFixed(2)} ms`, '']);
});
if (!mariaRow.ok) rows.push(['MariaDB select loop', mariaRow.cell, '', '', '']);

await gw.stop();
await relay.stop();
rmSync(relayTls.dir, { recursive: true, force: true });
await admin(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`).catch(() => {});
if (maria) await mysqlRoot(`DROP DATABASE IF EXISTS ${database}; DROP USER IF EXISTS '${maria.user}'@'%'`).catch(() => {});
await services?.stop();
rmSync(dir, { recursive: true, force: true });

const header = ['', 'direct', 'through Gatehouse (audit on)', 'ratio', 'target'];
const table = (head: string[], body: string[][]) => `\n${markdownTable(head, body)}\n`;
process.stdout.write(table(header, rows));
process.stdout.write(
  table(
    [
      'floor',
      'direct',
      'bare Node TLS relay (no auth, no audit)',
      'through Gatehouse',
      'relay / direct',
      'Gatehouse / relay',
      'relay CPU per transaction',
      'Gatehouse CPU per transaction',
    ],
    floor,
  ),
);
process.stdout.write(table(['the gateway during', 'loop delay p50 / p99 / max ms', 'loop busy', 'GC pauses (major), total, longest ms'], loops));
for (const { label, file } of profiles)
  process.stdout.write(
    `\nCPU profile of the gateway, ${label} (${file}; profiling slows the row):\n\n${formatProfile(summarizeProfile(readProfile(file), 20))}\n`,
  );
clearTimeout(watchdog);
process.exit(0);
