// bench/kube-proxy: what the Kubernetes proxy costs, next to the API server (stand-in) reached
// directly and through a bare Node TLS relay with no auth (the floor for any Node proxy here):
//   (a) GET one pod and (b) LIST 100 pods (~60 KB): autocannon, 20 connections, 5 s each after a
//       1 s warm-up, direct to the stand-in with Gatehouse's credential, through the relay with the
//       same headers, and through the proxy with a person's token (verification, impersonation,
//       a durable kube.request audit event per request, forwarding over keep-alive);
//   (c) watch throughput: one watch streaming 20,000 events, direct vs relay vs through, best of 2.
// Everything on 127.0.0.1 over TLS; bounded to about a minute (watchdog: 180 s). A scenario that
// fails shows "FAILED: <message>" in its row and the next one runs. BENCH_PROFILE=DIR writes CPU
// profiles of the relay and the gateway during the GET and LIST loads and prints their top functions;
// BENCH_COMPARE_TREE=DIR (another checkout) also runs that checkout's gateway, for before/after rows.
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { get } from 'node:https';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import autocannon from 'autocannon';
import { makeTls } from '../test/helpers/peers/tls.js';
import { cpuTimeMs, killAll, startServer, type BenchServer, type ReadyMessage } from './lib/children.js';
import { formatProfile, readProfile, summarizeProfile } from './lib/cpu-profile.js';
import { formatDelay, formatGc, probe, type LoopStats } from './lib/loop-probe.js';
import { busyWarning, formatCpu, formatMs, formatRate, formatRatio, machineSummary, markdownTable } from './lib/report.js';
import { failedRows, row } from './lib/rows.js';

const LOAD = { connections: 20, pipelining: 1, duration: 5 };
const WATCH_EVENTS = 20_000;
const PROFILE_DIR = process.env.BENCH_PROFILE;
/** Another checkout (with this bench/lib): its gateway runs in the same bench, for before/after rows. */
const COMPARE_TREE = process.env.BENCH_COMPARE_TREE;
const watchdog = setTimeout(() => {
  killAll();
  console.error('bench/kube-proxy: watchdog fired after 180 s');
  process.exit(2);
}, 180_000);

const warning = await busyWarning();
const loadBefore = loadavg();
const tls = makeTls();
const saToken = randomBytes(24).toString('base64url');
writeFileSync(join(tls.dir, 'sa-token'), saToken, { mode: 0o600 });
const dataDir = mkdtempSync(join(tmpdir(), 'gh-bench-kproxy-'));
if (PROFILE_DIR) mkdirSync(PROFILE_DIR, { recursive: true });
const standin = await startServer<ReadyMessage & { listBytes: number }>(new URL('./lib/kube-apiserver-standin.ts', import.meta.url), {
  BENCH_TOKEN: saToken,
  BENCH_TLS_DIR: tls.dir,
});
const relay = await startServer(new URL('./lib/tls-relay.ts', import.meta.url), { BENCH_UPSTREAM: standin.ready.url, BENCH_TLS_DIR: tls.dir });
const gateway = await startServer<ReadyMessage & { ca: string; token: string }>(new URL('./lib/kube-proxy-gateway-server.ts', import.meta.url), {
  BENCH_DATA_DIR: dataDir,
  BENCH_UPSTREAM: standin.ready.url,
  BENCH_TLS_DIR: tls.dir,
});

const baselineServer = COMPARE_TREE
  ? await startServer<ReadyMessage & { ca: string; token: string }>(new URL(`file://${COMPARE_TREE}/bench/lib/kube-proxy-gateway-server.ts`), {
      BENCH_DATA_DIR: mkdtempSync(join(tmpdir(), 'gh-bench-kproxy-base-')),
      BENCH_UPSTREAM: standin.ready.url,
      BENCH_TLS_DIR: tls.dir,
    })
  : undefined;

type Target = { base: string; headers: Record<string, string>; ca: string; pid: number | undefined; server?: BenchServer };
const directHeaders = { authorization: `Bearer ${saToken}`, 'impersonate-user': 'gatehouse:alice', 'impersonate-group': 'platform-admins' };
const direct: Target = { base: standin.ready.url, headers: directHeaders, ca: tls.ca, pid: standin.child.pid };
const bare: Target = { base: relay.ready.url, headers: directHeaders, ca: tls.ca, pid: relay.child.pid, server: relay };
const through: Target = {
  base: gateway.ready.url,
  headers: { authorization: `Bearer ${gateway.ready.token}` },
  ca: gateway.ready.ca,
  pid: gateway.child.pid,
  server: gateway,
};

const baseline: Target | undefined = baselineServer && {
  base: baselineServer.ready.url,
  headers: { authorization: `Bearer ${baselineServer.ready.token}` },
  ca: baselineServer.ready.ca,
  pid: baselineServer.child.pid,
  server: baselineServer,
};

interface Load {
  rps: number;
  p50: number;
  p99: number;
  cpu?: number;
  loop?: LoopStats;
}

async function load(target: Target, path: string, profile?: string): Promise<Load> {
  await autocannon({ url: `${target.base}${path}`, headers: target.headers, connections: 10, duration: 1 }); // warm-up
  const cpuBefore = cpuTimeMs(target.pid);
  if (target.server) await probe(target.server.child, 'start', profile);
  const result = await autocannon({ url: `${target.base}${path}`, headers: target.headers, ...LOAD });
  const loop = target.server ? await probe(target.server.child, 'stop', profile) : undefined;
  const cpu = cpuBefore === undefined ? undefined : (cpuTimeMs(target.pid)! - cpuBefore) / (LOAD.duration * 1000);
  if (result.non2xx || result.errors) throw new Error(`${target.base}${path}: ${result.non2xx} non-2xx, ${result.errors} errors`);
  return { rps: result.requests.average, p50: result.latency.p50, p99: result.latency.p99, cpu, loop };
}

function watch(target: Target): Promise<number> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    let lines = 0;
    get(`${target.base}/api/v1/namespaces/default/pods?watch=true&events=${WATCH_EVENTS}`, { headers: target.headers, ca: target.ca }, (res) => {
      res.on('error', reject); // a stream cut mid-way fails this row, not the bench
      if (res.statusCode !== 200) {
        res.resume();
        return reject(new Error(`watch answered ${res.statusCode}`));
      }
      res.on('data', (chunk: Buffer) => {
        for (const byte of chunk) if (byte === 10) lines++;
      });
      res.on('end', () =>
        lines === WATCH_EVENTS ? resolve(WATCH_EVENTS / ((performance.now() - started) / 1000)) : reject(new Error(`watch delivered ${lines} events`)),
      );
    }).on('error', reject);
  });
}

const latency = (l: Load) => `${formatMs(l.p50)} / ${formatMs(l.p99)}`;

try {
  const rows: string[][] = [];
  const loops: string[][] = [];
  const profiles: { label: string; file: string }[] = [];
  const compared: string[][] = [];
  const perRequest = (l: Load) => (l.cpu === undefined ? 'n/a' : `${((l.cpu * 1e6) / l.rps).toFixed(0)} µs`);
  for (const [label, path] of [
    ['GET pod', '/api/v1/namespaces/default/pods/web-0'],
    [`LIST 100 pods (${Math.round(standin.ready.listBytes / 1024)} KB)`, '/api/v1/namespaces/default/pods'],
  ] as const) {
    const name = label.split(' ')[0].toLowerCase();
    const profile = (who: string) => (PROFILE_DIR ? join(PROFILE_DIR, `kube-proxy-${name}-${who}.cpuprofile`) : undefined);
    rows.push(
      await row(label, 10, async () => {
        const a = await load(direct, path);
        const r = await load(bare, path, profile('relay'));
        const b = await load(through, path, profile('gatehouse'));
        if (baseline) {
          const c = await load(baseline, path);
          compared.push([
            label,
            formatRate(c.rps),
            formatRate(b.rps),
            formatRatio(b.rps / c.rps),
            perRequest(c),
            perRequest(b),
            perRequest(r),
            latency(c),
            latency(b),
          ]);
        }
        if (PROFILE_DIR)
          profiles.push({ label: `${label}, bare TLS relay`, file: profile('relay')! }, { label: `${label}, Gatehouse`, file: profile('gatehouse')! });
        loops.push([label, 'bare TLS relay', formatDelay(r.loop), formatGc(r.loop)], [label, 'Gatehouse', formatDelay(b.loop), formatGc(b.loop)]);
        return [
          formatRate(a.rps),
          formatRate(r.rps),
          formatRate(b.rps),
          formatRatio(b.rps / a.rps),
          formatRatio(b.rps / r.rps),
          latency(a),
          latency(r),
          latency(b),
          `${formatCpu(r.cpu)} / ${formatCpu(b.cpu)}`,
        ];
      }),
    );
  }
  rows.push(
    await row(`watch, ${WATCH_EVENTS.toLocaleString('en-US')} events (events/s)`, 10, async () => {
      const best = async (t: Target) => Math.max(await watch(t), await watch(t));
      const [d, r, b] = [await best(direct), await best(bare), await best(through)];
      return [formatRate(d), formatRate(r), formatRate(b), formatRatio(b / d), formatRatio(b / r), '', '', '', ''];
    }),
  );

  const load2 = (l: number[]) => l.map((x) => x.toFixed(2)).join(' ');
  console.log(`\n## bench/kube-proxy\n\n${machineSummary()}; autocannon ${LOAD.connections} connections, ${LOAD.duration} s per cell, TLS on both legs.`);
  console.log(`Load average ${load2(loadBefore)} before, ${load2(loadavg())} after.`);
  if (warning) console.log(`\n${warning}`);
  console.log(
    `\n${markdownTable(
      [
        'scenario',
        'direct req/s',
        'bare TLS relay req/s',
        'through Gatehouse req/s',
        'Gatehouse / direct',
        'Gatehouse / relay',
        'direct p50 / p99 ms',
        'relay p50 / p99 ms',
        'Gatehouse p50 / p99 ms',
        'relay / Gatehouse CPU',
      ],
      rows,
    )}\n`,
  );
  console.log(
    `Event loop (delay p50 / p99 / max ms, 1 ms resolution taken off) and GC during each load:\n\n${markdownTable(['scenario', 'process', 'loop delay', 'GC pauses (major), total, longest ms'], loops)}\n`,
  );
  if (baseline) {
    console.log(
      `Same run, the gateway of ${COMPARE_TREE} (before) against this tree's (after):\n\n${markdownTable(
        [
          'scenario',
          'before req/s',
          'after req/s',
          'after / before',
          'before CPU/req',
          'after CPU/req',
          'relay CPU/req',
          'before p50 / p99 ms',
          'after p50 / p99 ms',
        ],
        compared,
      )}\n`,
    );
  }
  for (const { label, file } of profiles) {
    console.log(`CPU profile, ${label} (${file}; profiling slows the row):\n\n${formatProfile(summarizeProfile(readProfile(file), 15))}\n`);
  }
  if (failedRows > 0) process.exitCode = 1;
} finally {
  await gateway.stop();
  await baselineServer?.stop();
  await relay.stop();
  await standin.stop();
  rmSync(dataDir, { recursive: true, force: true });
  rmSync(tls.dir, { recursive: true, force: true });
  clearTimeout(watchdog);
}
