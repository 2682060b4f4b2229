/**
 * HTTP app proxy benchmark (issues 7 and 20): one run, one upstream (12 B or 64 KB answers), wrk
 * -t1 -c50 for BENCH_SECONDS per row after 1 s of warm-up, every peer side by side:
 *   floors        direct; nginx proxy_pass; a node:http proxy and an undici proxy with no checks
 *   proxies       Gatehouse (path app, signed-in session; also with audit_requests); oauth2-proxy
 *                 with cookie sessions, Redis sessions, and cookie sessions on GOMAXPROCS=1
 *   forward-auth  nginx auth_request → Gatehouse /auth/verify (plain, and micro-cached with
 *                 deploy/nginx/gatehouse-auth-cache*.conf); nginx auth_request → oauth2-proxy
 *                 /oauth2/auth (cookie, Redis, GOMAXPROCS=1)
 * Every process runs on its own (the gateway too: bench/lib/apps-gateway-server.ts), and every
 * session comes from a real login through the IdP's forms (bench/lib/http-bench-setup.ts).
 * Prints req/s, p50, p99, CPU per request of each process (wrk included), the gateway's event-loop
 * delay and GC per Gatehouse row, the issue-20 targets, and the latency of one connection.
 *
 * Run: npx tsx bench/http-proxy.ts (needs wrk and nginx; oauth2-proxy from scripts/fetch-peers.sh;
 * redis-server or GATEHOUSE_TEST_REDIS_URL). BENCH_SECONDS (default 4); BENCH_PROFILE=DIR writes a
 * CPU profile of the gateway per Gatehouse row and prints its top functions; BENCH_WORKERS=N adds
 * rows for a gateway with `server.workers: N`; BENCH_COMPARE_TREE=DIR adds rows for another
 * checkout's gateway (before/after in one run); BENCH_ONLY=a,b runs only the rows whose name
 * contains a or b (and direct). A row that fails reads "FAILED: <message>".
 */
import { mkdirSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { formatProfile, readProfile, summarizeProfile } from './lib/cpu-profile.js';
import { startHttpBench, type CpuMeter, type GatewayVariant, type HttpBench, type Maybe } from './lib/http-bench-setup.js';
import { formatDelay, formatGc, probe, type LoopStats } from './lib/loop-probe.js';
import type { BenchServer } from './lib/children.js';
import { failedRows, reportStrayErrors, tryRow } from './lib/rows.js';
import { requireWrk, wrk, type WrkResult } from './lib/wrk.js';

reportStrayErrors('bench/http-proxy');

const SECONDS = Number(process.env.BENCH_SECONDS ?? 4);
const CONNECTIONS = 50;
const WARMUP_SECONDS = 1;
const PROFILE_DIR = process.env.BENCH_PROFILE;
const WORKERS = process.env.BENCH_WORKERS ? Number(process.env.BENCH_WORKERS) : undefined;
const COMPARE_TREE = process.env.BENCH_COMPARE_TREE;
const VARIANTS: GatewayVariant[] = [
  ...(WORKERS ? [{ label: `${WORKERS} workers`, workers: WORKERS }] : []),
  ...(COMPARE_TREE ? [{ label: `before (${COMPARE_TREE})`, tree: COMPARE_TREE }] : []),
];
/** Only the rows whose scenario contains one of these (comma-separated), for investigating one. */
const ONLY = process.env.BENCH_ONLY?.split(',');

interface Scenario {
  name: string;
  /** The URL for a body path (`small` or `big`), or why the scenario cannot run. */
  /** `probe`: a Node proxy whose event loop is watched (the gateway is also profiled with BENCH_PROFILE). */
  target: Maybe<{ url: (path: string) => string; headers?: Record<string, string>; cpu: CpuMeter[]; gateway?: BenchServer; probe?: BenchServer }>;
}

interface Row {
  scenario: string;
  body: string;
  r?: WrkResult;
  error?: string;
  cpu: { name: string; us: number }[];
  upstreamUs: number;
  wrkUs: number;
  loop?: LoopStats;
  profile?: string;
}

function scenarios(b: HttpBench): Scenario[] {
  const ok = <T>(value: T) => ({ ok: true as const, value });
  const via = <T, U>(m: Maybe<T>, f: (v: T) => U): Maybe<U> => (m.ok ? ok(f(m.value)) : m);
  const nginx = b.nginx.cpu;
  const redis = b.redis ? [b.redis] : [];
  const list: Scenario[] = [
    { name: 'direct', target: ok({ url: (p) => `${b.upstream.url}/${p}`, cpu: [] }) },
    { name: 'nginx proxy_pass', target: ok({ url: (p) => `${b.nginx.url}/direct/${p}`, cpu: [nginx] }) },
    {
      name: 'minimal node:http proxy',
      target: ok({ url: (p) => `${b.floors.nodeHttp.url}/${p}`, cpu: [b.floors.nodeHttp.cpu], probe: b.floors.nodeHttp.server }),
    },
    { name: 'bare undici proxy', target: ok({ url: (p) => `${b.floors.undici.url}/${p}`, cpu: [b.floors.undici.cpu], probe: b.floors.undici.server }) },
    {
      name: 'gatehouse proxy',
      target: via(b.gateway, (g) => ({ url: (p: string) => `${g.url}/apps/bench/${p}`, headers: { cookie: g.cookie }, cpu: [g.cpu], gateway: g.server })),
    },
    {
      name: 'gatehouse proxy, audit_requests: true',
      target: via(b.gateway, (g) => ({ url: (p: string) => `${g.url}/apps/audited/${p}`, headers: { cookie: g.cookie }, cpu: [g.cpu], gateway: g.server })),
    },
  ];
  for (const { variant, gateway } of b.variants) {
    list.push({
      name: `gatehouse proxy, ${variant.label}`,
      target: via(gateway, (g) => ({ url: (p: string) => `${g.url}/apps/bench/${p}`, headers: { cookie: g.cookie }, cpu: [g.cpu], gateway: g.server })),
    });
    list.push({
      name: `gatehouse proxy, audit_requests: true, ${variant.label}`,
      target: via(gateway, (g) => ({ url: (p: string) => `${g.url}/apps/audited/${p}`, headers: { cookie: g.cookie }, cpu: [g.cpu], gateway: g.server })),
    });
  }
  const opKinds = [
    ['cookie sessions', b.oauth2Proxy.cookie, 'op-cookie', []],
    ['Redis sessions', b.oauth2Proxy.redis, 'op-redis', redis],
    ['cookie sessions, GOMAXPROCS=1', b.oauth2Proxy.oneCore, 'op-1core', []],
  ] as const;
  for (const [kind, op, , extra] of opKinds) {
    list.push({
      name: `oauth2-proxy reverse proxy (${kind})`,
      target: via(op, (o) => ({ url: (p: string) => `${o.proxy.url}/${p}`, headers: { cookie: o.cookie }, cpu: [o.cpu, ...extra] })),
    });
  }
  const verify = (name: string, path: string, g: HttpBench['gateway']) => ({
    name,
    target: via(g, (v) => ({ url: (p: string) => `${b.nginx.url}/${path}/${p}`, headers: { cookie: v.cookie }, cpu: [nginx, v.cpu], gateway: v.server })),
  });
  list.push(verify('nginx auth_request + gatehouse /auth/verify', 'verified', b.gateway));
  list.push(verify('nginx micro-cached auth_request + gatehouse /auth/verify', 'verified-cached', b.gateway));
  b.variants.forEach(({ variant, gateway }, i) =>
    list.push(verify(`nginx auth_request + gatehouse /auth/verify, ${variant.label}`, `verified-v${i}`, gateway)),
  );
  for (const [kind, op, path, extra] of opKinds) {
    list.push({
      name: `nginx auth_request + oauth2-proxy /oauth2/auth (${kind})`,
      target: via(op, (o) => ({ url: (p: string) => `${b.nginx.url}/${path}/${p}`, headers: { cookie: o.cookie }, cpu: [nginx, o.cpu, ...extra] })),
    });
  }
  return list;
}

async function measure(s: Scenario, body: string, path: string, b: HttpBench): Promise<Row> {
  const result = await tryRow(`${s.name}, ${body}`, async () => {
    if (!s.target.ok) throw new Error(s.target.error);
    const t = s.target.value;
    const watched = t.gateway ?? t.probe;
    const profile = PROFILE_DIR && t.gateway ? join(PROFILE_DIR, `${s.name.replace(/[^a-z0-9]+/gi, '-')}-${path}.cpuprofile`) : undefined;
    // Warm-up (not measured), so the row is not the first load the process sees (JIT, caches, connections).
    await wrk(t.url(path), { seconds: WARMUP_SECONDS, connections: CONNECTIONS, headers: t.headers });
    const before = t.cpu.map((m) => m.ms());
    const upBefore = b.upstream.cpu.ms();
    if (watched) await probe(watched.child, 'start', profile);
    const r = await wrk(t.url(path), { seconds: SECONDS, connections: CONNECTIONS, headers: t.headers });
    const loop = watched ? await probe(watched.child, 'stop', profile) : undefined;
    const per = (ms: number) => (ms * 1000) / r.requests;
    if (r.errors) throw new Error(`${r.errors} errors or non-2xx answers of ${r.requests}`);
    return {
      r,
      cpu: t.cpu.map((m, i) => ({ name: m.name, us: per(m.ms() - before[i]) })),
      upstreamUs: per(b.upstream.cpu.ms() - upBefore),
      wrkUs: per(r.cpuMs),
      loop,
      profile,
    };
  });
  return result.ok ? { scenario: s.name, body, ...result.value } : { scenario: s.name, body, error: result.cell, cpu: [], upstreamUs: NaN, wrkUs: NaN };
}

async function main() {
  requireWrk();
  if (PROFILE_DIR) mkdirSync(PROFILE_DIR, { recursive: true });
  const loadBefore = loadavg();
  const b = await startHttpBench({ variants: VARIANTS });
  const rows: Row[] = [];
  const single: Row[] = [];
  try {
    const list = scenarios(b).filter((s) => s.name === 'direct' || !ONLY || ONLY.some((o) => s.name.includes(o)));
    for (const [body, path] of [
      ['12 B', 'small'],
      ['64 KB', 'big'],
    ] as const) {
      for (const s of list) rows.push(await measure(s, body, path, b));
    }
    // The hop's own latency, without queueing: one connection, one request at a time.
    for (const name of ['direct', 'nginx proxy_pass', 'gatehouse proxy', 'oauth2-proxy reverse proxy (cookie sessions)']) {
      const s = list.find((x) => x.name === name);
      if (!s) continue;
      const result = await tryRow(`${name}, one connection`, async () => {
        if (!s.target.ok) throw new Error(s.target.error);
        return wrk(s.target.value.url('small'), { seconds: SECONDS, connections: 1, headers: s.target.value.headers });
      });
      single.push(
        result.ok
          ? { scenario: name, body: '12 B', r: result.value, cpu: [], upstreamUs: NaN, wrkUs: NaN }
          : { scenario: name, body: '12 B', error: result.cell, cpu: [], upstreamUs: NaN, wrkUs: NaN },
      );
    }
  } finally {
    await b.stop();
  }
  console.log(report(rows, single, loadBefore, loadavg()));
  if (failedRows > 0) process.exitCode = 1;
}

function report(rows: Row[], single: Row[], loadBefore: number[], loadAfter: number[]): string {
  const get = (body: string, scenario: string) => rows.find((x) => x.body === body && x.scenario === scenario)?.r;
  const over = (a: number | undefined, b: number | undefined, digits = 2) =>
    a === undefined || b === undefined || !Number.isFinite(a / b) ? 'n/a' : (a / b).toFixed(digits);
  const load = (l: number[]) => l.map((x) => x.toFixed(2)).join(' ');
  const lines = [
    `wrk -t1 -c${CONNECTIONS} -d${SECONDS}s per row, 127.0.0.1, Node ${process.version}, ${cpus().length} cores; load average ${load(loadBefore)} before, ${load(loadAfter)} after`,
    '',
    '| scenario | body | req/s | p50 ms | p99 ms | p99/p50 | vs direct | vs nginx | CPU µs/req between wrk and the upstream | upstream µs/req | wrk µs/req |',
    '|---|---|---:|---:|---:|---:|---:|---:|---|---:|---:|',
  ];
  for (const { scenario, body, r, error, cpu, upstreamUs, wrkUs } of rows) {
    if (!r) {
      lines.push(`| ${scenario} | ${body} | ${error} | | | | | | | | |`);
      continue;
    }
    const cpuCell = cpu.map((c) => `${c.us.toFixed(1)} ${c.name}`).join(' + ') || '–';
    lines.push(
      `| ${scenario} | ${body} | ${Math.round(r.rps)} | ${r.p50.toFixed(2)} | ${r.p99.toFixed(2)} | ${over(r.p99, r.p50, 1)} | ${over(r.rps, get(body, 'direct')?.rps)} | ${over(r.rps, get(body, 'nginx proxy_pass')?.rps)} | ${cpuCell} | ${upstreamUs.toFixed(1)} | ${wrkUs.toFixed(1)} |`,
    );
  }
  lines.push('', 'The event loop of the Node proxy in each row (monitorEventLoopDelay, 1 ms resolution taken off; GC pauses from PerformanceObserver):', '');
  lines.push(
    '| scenario | body | loop delay p50 / p99 / max ms | loop busy | GC pauses (major), total, longest ms | GC pauses per 1,000 requests |',
    '|---|---|---:|---:|---|---:|',
  );
  for (const { scenario, body, loop, r } of rows.filter((x) => x.loop)) {
    const perThousand = loop && r ? ((loop.gc.count * 1000) / r.requests).toFixed(2) : '–';
    lines.push(`| ${scenario} | ${body} | ${formatDelay(loop)} | ${((loop?.utilization ?? NaN) * 100).toFixed(0)}% | ${formatGc(loop)} | ${perThousand} |`);
  }
  lines.push('', 'Targets (issue 20), ratios from this run:');
  const target = (label: string, a: number | undefined, b: number | undefined, min: number) => {
    const ratio = a !== undefined && b !== undefined ? a / b : NaN;
    lines.push(`- ${label}: ${Number.isFinite(ratio) ? ratio.toFixed(2) : 'n/a'} (target ≥ ${min}: ${ratio >= min ? 'met' : 'NOT met'})`);
  };
  for (const body of ['12 B', '64 KB']) {
    const g = get(body, 'gatehouse proxy');
    target(
      `${body}: gatehouse proxy / oauth2-proxy reverse proxy (cookie, GOMAXPROCS=1)`,
      g?.rps,
      get(body, 'oauth2-proxy reverse proxy (cookie sessions, GOMAXPROCS=1)')?.rps,
      1,
    );
    target(
      `${body}: gatehouse proxy / oauth2-proxy reverse proxy (cookie, all cores)`,
      g?.rps,
      get(body, 'oauth2-proxy reverse proxy (cookie sessions)')?.rps,
      1,
    );
    target(`${body}: gatehouse proxy / bare undici proxy`, g?.rps, get(body, 'bare undici proxy')?.rps, 0.9);
    target(
      `${body}: nginx + gatehouse /auth/verify / nginx + oauth2-proxy /oauth2/auth (cookie)`,
      get(body, 'nginx auth_request + gatehouse /auth/verify')?.rps,
      get(body, 'nginx auth_request + oauth2-proxy /oauth2/auth (cookie sessions)')?.rps,
      1,
    );
    target(
      `${body}: micro-cached forward-auth / nginx proxy_pass`,
      get(body, 'nginx micro-cached auth_request + gatehouse /auth/verify')?.rps,
      get(body, 'nginx proxy_pass')?.rps,
      0.6,
    );
    for (const row of rows.filter((x) => x.body === body && x.scenario.includes('gatehouse') && x.r)) {
      const ratio = row.r!.p99 / row.r!.p50;
      lines.push(`- ${body}: ${row.scenario}: p99 = ${ratio.toFixed(1)} × p50 (target ≤ 4: ${ratio <= 4 ? 'met' : 'NOT met'})`);
    }
  }
  const d1 = single.find((x) => x.scenario === 'direct')?.r;
  lines.push(
    '',
    `One connection (no queueing), 12 B, ${SECONDS} s each:`,
    '',
    '| scenario | req/s | p50 ms | p99 ms | p50 added | p99 added |',
    '|---|---:|---:|---:|---:|---:|',
  );
  for (const { scenario, r, error } of single) {
    if (!r) lines.push(`| ${scenario} | ${error} | | | | |`);
    else
      lines.push(
        `| ${scenario} | ${Math.round(r.rps)} | ${r.p50.toFixed(3)} | ${r.p99.toFixed(3)} | ${d1 ? (r.p50 - d1.p50).toFixed(3) : 'n/a'} | ${d1 ? (r.p99 - d1.p99).toFixed(3) : 'n/a'} |`,
      );
  }
  for (const row of rows.filter((x) => x.profile && x.r)) {
    lines.push('', `CPU profile of the gateway, ${row.scenario}, ${row.body} (${row.profile}; profiling slows the row):`, '');
    lines.push(formatProfile(summarizeProfile(readProfile(row.profile!), 12)));
  }
  return lines.join('\n');
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
