// Login and session benchmarks, in one run, on 127.0.0.1 only (see bench/README.md):
//
//   (a) complete browser logins per second through the gateway and its embedded demo IdP
//       (GET /login/demo → IdP login form → consent → /callback/demo → /api/v1/whoami), each in a
//       fresh cookie jar, from LOGIN_WORKERS concurrent workers for LOGIN_SECONDS;
//   (b) GET /api/v1/whoami with a session cookie (Redis store), autocannon, 50 connections, 5 s
//       (after a 3 s warm-up);
//   (c) the same load against a bare Express 5 app with one JSON route: the baseline.
//
// The gateway and the baseline each run in their own child process (own event loop), one at a
// time; this process is the load generator. Run: `npm run bench:login` (or `npx tsx bench/login.ts`).
// A scenario that fails shows "FAILED: <message>" in its row and the others still run.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import autocannon, { type Result } from 'autocannon';
import { dropKeys } from './lib/redis.js';
import { SESSION_COOKIE } from '../src/web/deps.js';
import { Browser, redirectedTo } from '../test/helpers/browsers/browser.js';
import { signInThroughIdp } from '../test/helpers/browsers/sign-in.js';
import { REDIS_URL, tcpReachable } from '../test/helpers/peers/services.js';
import { cpuTimeMs, killAll, startServer } from './lib/children.js';
import type { GatewayReady } from './lib/gateway-server.js';
import { busyWarning, formatCpu, formatMs, formatRate, formatRatio, machineSummary, markdownTable, percentile } from './lib/report.js';
import { failedCells, failedRows, tryRow, type RowResult } from './lib/rows.js';

const bounded = (name: string, fallback: number, max: number) => Math.min(max, Math.max(1, Number(process.env[name]) || fallback));
/** Login phase length and concurrency; the environment may change them within bounds. */
const LOGIN_SECONDS = bounded('LOGIN_SECONDS', 10, 30);
const LOGIN_WORKERS = bounded('LOGIN_WORKERS', 8, 64);
/** Upper bound on logins, whatever the machine's speed. */
const MAX_LOGINS = 20_000;
const LOAD = { connections: 50, pipelining: 1, duration: 5 };
const WARMUP_SECONDS = 3;
/** The whole run is killed after this, whatever happens. */
const WATCHDOG_MS = 120_000;

const watchdog = setTimeout(() => {
  process.stderr.write(`bench: still running after ${WATCHDOG_MS / 1000} s; giving up\n`);
  killAll();
  process.exit(1);
}, WATCHDOG_MS);
watchdog.unref();

/** A Browser that counts the HTTP requests it makes. */
class CountingBrowser extends Browser {
  requests = 0;
  override request(...args: Parameters<Browser['request']>): ReturnType<Browser['request']> {
    this.requests++;
    return super.request(...args);
  }
}

/** One complete login in a fresh cookie jar; returns the browser, which then holds a session. */
async function login(url: string, user: { username: string; password: string }): Promise<CountingBrowser> {
  const browser = new CountingBrowser();
  const callback = `${url}/callback/`;
  const back = redirectedTo(await signInThroughIdp(browser, await browser.go(`${url}/login/demo`), user, callback), callback);
  const done = await browser.request(back.href);
  if (done.status !== 302 || done.location !== `${url}/`) throw new Error(`callback answered ${done.status}: ${done.body.slice(0, 300)}`);
  const whoami = await browser.request(`${url}/api/v1/whoami`);
  const body = JSON.parse(whoami.body) as { username?: string };
  if (whoami.status !== 200 || body.username !== user.username) throw new Error(`whoami answered ${whoami.status}: ${whoami.body.slice(0, 300)}`);
  return browser;
}

interface LoginRun {
  logins: number;
  failures: number;
  firstError?: string;
  seconds: number;
  latenciesMs: number[];
  requestsPerLogin: number;
  sessionCookie: string;
  serverCpu?: number;
}

/** Measures a phase's wall time and the CPU the server process used in it (1 = one core busy). */
async function measured<T>(pid: number | undefined, phase: () => Promise<T>): Promise<{ value: T; serverCpu?: number }> {
  const cpu0 = cpuTimeMs(pid);
  const t0 = performance.now();
  const value = await phase();
  const cpu1 = cpuTimeMs(pid);
  const wall = performance.now() - t0;
  return { value, serverCpu: cpu0 === undefined || cpu1 === undefined ? undefined : (cpu1 - cpu0) / wall };
}

async function benchLogins(url: string, user: { username: string; password: string }, serverPid?: number): Promise<LoginRun> {
  // One login first: proves the flow works, warms discovery and keys, and gives (b) its session.
  const first = await login(url, user);
  const sessionCookie = first.cookie(SESSION_COOKIE);
  if (!sessionCookie) throw new Error('the first login set no session cookie');

  const latenciesMs: number[] = [];
  let failures = 0;
  let firstError: string | undefined;
  let started = 0;
  const start = performance.now();
  const deadline = start + LOGIN_SECONDS * 1000;
  const worker = async () => {
    while (performance.now() < deadline && started < MAX_LOGINS) {
      started++;
      const t0 = performance.now();
      try {
        await login(url, user);
        latenciesMs.push(performance.now() - t0);
      } catch (err) {
        failures++;
        firstError ??= (err as Error).message;
      }
    }
  };
  const { serverCpu } = await measured(serverPid, () => Promise.all(Array.from({ length: LOGIN_WORKERS }, worker)));
  const seconds = (performance.now() - start) / 1000;
  return { logins: latenciesMs.length, failures, firstError, seconds, latenciesMs, requestsPerLogin: first.requests, sessionCookie, serverCpu };
}

async function load(url: string, serverPid: number | undefined, headers: Record<string, string> = {}): Promise<Result & { serverCpu?: number }> {
  await autocannon({ url, headers, ...LOAD, duration: WARMUP_SECONDS });
  const { value: result, serverCpu } = await measured(serverPid, () => autocannon({ url, headers, ...LOAD }));
  const bad = result.errors + result.non2xx;
  if (bad > 0)
    throw new Error(`${url}: ${result.non2xx} non-2xx answers and ${result.errors} errors (${result.timeouts} timeouts) out of ${result.requests.total}`);
  return { ...result, serverCpu };
}

type Load = Awaited<ReturnType<typeof load>>;
const notRun = (why: string): RowResult<never> => ({ ok: false, error: why, cell: `FAILED: ${why}` });

async function main(): Promise<void> {
  const redis = new URL(REDIS_URL);
  if (!(await tcpReachable(redis.hostname, Number(redis.port || 6379)))) {
    throw new Error(`Redis is not reachable at ${REDIS_URL} (set GATEHOUSE_TEST_REDIS_URL to use another one)`);
  }
  console.log(`machine: ${machineSummary()}`);
  const busy = await busyWarning();
  if (busy) console.log(busy);
  console.log(
    `load: autocannon ${LOAD.connections} connections, pipelining ${LOAD.pipelining}, ${LOAD.duration} s (after ${WARMUP_SECONDS} s warm-up); logins: ${LOGIN_WORKERS} workers, ${LOGIN_SECONDS} s`,
  );

  const prefix = `gatehouse-bench:${randomBytes(6).toString('hex')}:`;
  const dataDir = mkdtempSync(join(tmpdir(), 'gatehouse-bench-'));
  let logins: RowResult<LoginRun> = notRun('not run');
  let whoami: RowResult<Load> = notRun('not run');
  let bare: RowResult<Load> = notRun('not run');
  try {
    const gateway = await tryRow('gateway start', () =>
      startServer<GatewayReady>(new URL('./lib/gateway-server.ts', import.meta.url), {
        BENCH_REDIS_URL: REDIS_URL,
        BENCH_REDIS_PREFIX: prefix,
        BENCH_DATA_DIR: dataDir,
      }),
    );
    if (gateway.ok) {
      try {
        const { url, users } = gateway.value.ready;
        const pid = gateway.value.child.pid;
        console.log(`(a) logins against ${url} ...`);
        logins = await tryRow('(a) logins', () => {
          const alice = users.find((u) => u.username === 'alice');
          if (!alice) throw new Error('the demo IdP has no user alice');
          return benchLogins(url, alice, pid);
        });
        console.log(`(b) GET /api/v1/whoami with a session cookie ...`);
        const cookie = logins.ok ? logins.value.sessionCookie : undefined;
        whoami = cookie
          ? await tryRow('(b) whoami', () => load(`${url}/api/v1/whoami`, pid, { cookie: `${SESSION_COOKIE}=${cookie}` }))
          : notRun('no session cookie, since (a) failed');
      } finally {
        await gateway.value.stop();
      }
    } else {
      logins = whoami = notRun(`the gateway did not start: ${gateway.error}`);
    }
    bare = await tryRow('(c) bare Express', async () => {
      const express = await startServer(new URL('./lib/express-server.ts', import.meta.url));
      try {
        console.log(`(c) bare Express 5 at ${express.ready.url} ...`);
        return await load(`${express.ready.url}/api/v1/whoami`, express.child.pid);
      } finally {
        await express.stop();
      }
    });
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
    const dropped = await dropKeys(prefix).catch((err: Error) => {
      process.stderr.write(`bench: could not remove the ${prefix}* keys from Redis: ${err.message}\n`);
      return 0;
    });
    console.log(`removed ${dropped} bench keys (${prefix}*) from Redis`);
  }

  const baseline = bare.ok ? bare.value.requests.average : NaN;
  const vsBaseline = (rate: number) => (bare.ok ? formatRatio(rate / baseline) : 'n/a');
  const WIDTH = 6;
  const loginRow = (r: LoginRun) => {
    const loginRate = r.logins / r.seconds;
    return [
      `(a) full login: gateway + embedded IdP, Redis, ${LOGIN_WORKERS} workers, ${r.requestsPerLogin} HTTP requests each`,
      `${formatRate(loginRate)} logins/s (${formatRate(loginRate * r.requestsPerLogin)} HTTP req/s)`,
      formatMs(percentile(r.latenciesMs, 50)),
      formatMs(percentile(r.latenciesMs, 99)),
      `${vsBaseline(loginRate)} (${vsBaseline(loginRate * r.requestsPerLogin)} per HTTP request)`,
      formatCpu(r.serverCpu),
    ];
  };
  const loadRow = (label: string, r: RowResult<Load>) =>
    r.ok
      ? [
          label,
          `${formatRate(r.value.requests.average)} req/s`,
          formatMs(r.value.latency.p50),
          formatMs(r.value.latency.p99),
          vsBaseline(r.value.requests.average),
          formatCpu(r.value.serverCpu),
        ]
      : failedCells(label, r.cell, WIDTH);
  const rows = [
    logins.ok ? loginRow(logins.value) : failedCells(`(a) full login: gateway + embedded IdP, Redis, ${LOGIN_WORKERS} workers`, logins.cell, WIDTH),
    loadRow(`(b) GET /api/v1/whoami, session cookie, Redis store`, whoami),
    loadRow(`(c) bare Express 5, one JSON route (baseline)`, bare),
  ];
  console.log('');
  console.log(markdownTable(['scenario', 'rate', 'p50 ms', 'p99 ms', 'vs bare Express', 'server CPU'], rows));
  console.log('');
  if (logins.ok) {
    const l = logins.value;
    console.log(`${l.logins} logins in ${l.seconds.toFixed(1)} s, ${l.failures} failed${l.firstError ? ` (first: ${l.firstError})` : ''}`);
  }
  if (busy) console.log(busy);
  if (failedRows > 0 || !logins.ok || logins.value.failures > 0) process.exitCode = 1;
}

main().then(
  () => clearTimeout(watchdog),
  (err: unknown) => {
    process.stderr.write(`bench: ${(err as Error).stack ?? String(err)}\n`);
    killAll();
    process.exit(1);
  },
);
