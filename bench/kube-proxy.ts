// bench/kube-proxy: what the Kubernetes proxy costs, next to the API server (stand-in) reached directly.
//   (a) GET one pod and (b) LIST 100 pods (~60 KB): autocannon, 20 connections, 5 s each, direct to
//       the stand-in with Gatehouse's credential vs through the proxy with a person's token
//       (verification, impersonation, audit event per request, forwarding over keep-alive);
//   (c) watch throughput: one watch streaming 20,000 events, direct vs through, best of 2.
// Everything on 127.0.0.1 over TLS; bounded to well under a minute (watchdog: 120 s). A scenario
// that fails shows "FAILED: <message>" in its row and the next one runs.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { get } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import autocannon from 'autocannon';
import { makeTls } from '../test/helpers/peers/tls.js';
import { cpuTimeMs, killAll, startServer, type ReadyMessage } from './lib/children.js';
import { busyWarning, formatCpu, formatMs, formatRate, formatRatio, machineSummary, markdownTable } from './lib/report.js';
import { failedRows, row } from './lib/rows.js';

const LOAD = { connections: 20, pipelining: 1, duration: 5 };
const WATCH_EVENTS = 20_000;
const watchdog = setTimeout(() => {
  killAll();
  console.error('bench/kube-proxy: watchdog fired after 120 s');
  process.exit(2);
}, 120_000);

const warning = await busyWarning();
const tls = makeTls();
const saToken = randomBytes(24).toString('base64url');
writeFileSync(join(tls.dir, 'sa-token'), saToken, { mode: 0o600 });
const dataDir = mkdtempSync(join(tmpdir(), 'gh-bench-kproxy-'));
const standin = await startServer<ReadyMessage & { listBytes: number }>(new URL('./lib/kube-apiserver-standin.ts', import.meta.url), {
  BENCH_TOKEN: saToken,
  BENCH_TLS_DIR: tls.dir,
});
const gateway = await startServer<ReadyMessage & { ca: string; token: string }>(new URL('./lib/kube-proxy-gateway-server.ts', import.meta.url), {
  BENCH_DATA_DIR: dataDir,
  BENCH_UPSTREAM: standin.ready.url,
  BENCH_TLS_DIR: tls.dir,
});

const direct = {
  base: standin.ready.url,
  headers: { authorization: `Bearer ${saToken}`, 'impersonate-user': 'gatehouse:alice', 'impersonate-group': 'platform-admins' },
  ca: tls.ca,
  pid: standin.child.pid,
};
const through = { base: gateway.ready.url, headers: { authorization: `Bearer ${gateway.ready.token}` }, ca: gateway.ready.ca, pid: gateway.child.pid };
type Target = { base: string; headers: Record<string, string>; ca: string; pid: number | undefined };

async function load(target: Target, path: string) {
  const cpuBefore = cpuTimeMs(target.pid);
  const result = await autocannon({ url: `${target.base}${path}`, headers: target.headers, ...LOAD });
  const cpu = cpuBefore === undefined ? undefined : (cpuTimeMs(target.pid)! - cpuBefore) / (LOAD.duration * 1000);
  if (result.non2xx || result.errors) throw new Error(`${target.base}${path}: ${result.non2xx} non-2xx, ${result.errors} errors`);
  return { rps: result.requests.average, p50: result.latency.p50, p99: result.latency.p99, cpu };
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

try {
  const rows: string[][] = [];
  for (const [label, path] of [
    ['GET pod', '/api/v1/namespaces/default/pods/web-0'],
    [`LIST 100 pods (${Math.round(standin.ready.listBytes / 1024)} KB)`, '/api/v1/namespaces/default/pods'],
  ] as const) {
    rows.push(
      await row(label, 7, async () => {
        await autocannon({ url: `${through.base}${path}`, headers: through.headers, connections: 10, duration: 1 }); // warm-up
        const a = await load(direct, path);
        const b = await load(through, path);
        return [
          formatRate(a.rps),
          formatRate(b.rps),
          formatRatio(b.rps / a.rps),
          `${formatMs(a.p50)} / ${formatMs(a.p99)}`,
          `${formatMs(b.p50)} / ${formatMs(b.p99)}`,
          formatCpu(b.cpu),
        ];
      }),
    );
  }
  rows.push(
    await row(`watch, ${WATCH_EVENTS.toLocaleString('en-US')} events (events/s)`, 7, async () => {
      const watchDirect = Math.max(await watch(direct), await watch(direct));
      const watchThrough = Math.max(await watch(through), await watch(through));
      return [formatRate(watchDirect), formatRate(watchThrough), formatRatio(watchThrough / watchDirect), '', '', ''];
    }),
  );

  console.log(`\n## bench/kube-proxy\n\n${machineSummary()}; autocannon ${LOAD.connections} connections, ${LOAD.duration} s per cell, TLS on both legs.`);
  if (warning) console.log(`\n${warning}`);
  console.log(
    `\n${markdownTable(['scenario', 'direct req/s', 'through Gatehouse req/s', 'ratio', 'direct p50 / p99 ms', 'Gatehouse p50 / p99 ms', 'Gatehouse CPU'], rows)}\n`,
  );
  if (failedRows > 0) process.exitCode = 1;
} finally {
  await gateway.stop();
  await standin.stop();
  rmSync(dataDir, { recursive: true, force: true });
  rmSync(tls.dir, { recursive: true, force: true });
  clearTimeout(watchdog);
}
