// bench/kube: what kubectl pays per command for Gatehouse credentials, and TokenReview throughput.
//   (a) wall time of `gatehouse kube credentials` with a warm cache, next to `node -e 0` (the floor of
//       any Node CLI): N sequential runs each, interleaved, built CLI (dist/);
//   (b) TokenReview requests/s (autocannon, 50 connections, 5 s) next to a bare Express JSON POST route.
// Everything on 127.0.0.1; bounded to well under a minute.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import autocannon from 'autocannon';
import { randomId } from '../src/core/ids.js';
import { killAll, startServer, type ReadyMessage } from './lib/children.js';
import { busyWarning, formatMs, formatRate, formatRatio, machineSummary, markdownTable, percentile } from './lib/report.js';

const RUNS = 20;
const LOAD = { connections: 50, pipelining: 1, duration: 5 };
const watchdog = setTimeout(() => {
  killAll();
  console.error('bench/kube: watchdog fired after 120 s');
  process.exit(2);
}, 120_000);

const build = spawnSync('npm', ['run', '--silent', 'build'], { stdio: 'inherit' });
if (build.status !== 0) throw new Error('build failed');

const warning = await busyWarning();
const dataDir = mkdtempSync(join(tmpdir(), 'gh-bench-kube-'));
const reviewer = randomId(24);
const gateway = await startServer<ReadyMessage & { token: string }>(new URL('./lib/kube-gateway-server.ts', import.meta.url), {
  BENCH_DATA_DIR: dataDir,
  BENCH_REVIEWER_TOKEN: reviewer,
});
const express = await startServer(new URL('./lib/express-server.ts', import.meta.url));

try {
  // (a) a warm cache: the state file `gatehouse login` would have left, with a fresh cluster token.
  const home = join(dataDir, 'home');
  const server = gateway.ready.url;
  writeFileSync(join(dataDir, 'noop'), '');
  const stateDir = join(home, 'servers');
  spawnSync('mkdir', ['-p', stateDir]);
  writeFileSync(
    join(stateDir, `${new URL(server).host.replace(':', '_')}.json`),
    JSON.stringify({ server, refresh_token: 'ghr_unused', clusters: { prod: { name: 'prod', audience: 'gatehouse:prod', mode: 'oidc', api_server: 'https://127.0.0.1:6443' } }, kube: { prod: { token: gateway.ready.token, expires_at: Date.now() + 3_600_000 } } }),
    { mode: 0o600 },
  );
  const time = (args: string[], env: NodeJS.ProcessEnv = process.env) => {
    const start = process.hrtime.bigint();
    const run = spawnSync(process.execPath, args, { env, encoding: 'utf8' });
    if (run.status !== 0) throw new Error(`${args.join(' ')} failed: ${run.stderr}`);
    return Number(process.hrtime.bigint() - start) / 1e6;
  };
  const floor: number[] = [];
  const credentials: number[] = [];
  const cliEnv = { ...process.env, GATEHOUSE_HOME: home, KUBERNETES_EXEC_INFO: '{"apiVersion":"client.authentication.k8s.io/v1beta1","spec":{"interactive":false}}' };
  for (let i = 0; i < RUNS; i++) {
    floor.push(time(['-e', '0']));
    credentials.push(time(['dist/cli/main.js', 'kube', 'credentials', '--cluster', 'prod', '--server', server], cliEnv));
  }

  // (b) TokenReview vs a bare Express JSON POST.
  const review = JSON.stringify({ apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token: gateway.ready.token, audiences: ['gatehouse:prod'] } });
  const load = (url: string, headers: Record<string, string>) => autocannon({ url, method: 'POST', body: review, headers: { 'content-type': 'application/json', ...headers }, ...LOAD });
  await load(`${express.ready.url}/json`, {}); // warm-up both
  const bare = await load(`${express.ready.url}/json`, {});
  const tokenReview = await load(`${server}/apis/authentication.k8s.io/v1/tokenreviews`, { authorization: `Bearer ${reviewer}` });
  if (tokenReview.non2xx || tokenReview.errors) throw new Error(`TokenReview load had ${tokenReview.non2xx} non-2xx and ${tokenReview.errors} errors`);

  const median = (xs: number[]) => percentile(xs, 50);
  console.log(`\nbench/kube on ${machineSummary()}`);
  if (warning) console.log(warning);
  console.log(`\n(a) CLI wall time, ${RUNS} runs each, median and p90\n`);
  console.log(
    markdownTable(
      ['command', 'median ms', 'p90 ms', 'ratio'],
      [
        ['node -e 0 (floor)', formatMs(median(floor)), formatMs(percentile(floor, 90)), formatRatio(1)],
        ['gatehouse kube credentials (warm cache)', formatMs(median(credentials)), formatMs(percentile(credentials, 90)), formatRatio(median(credentials) / median(floor))],
      ],
    ),
  );
  console.log(`\n(b) requests/s, autocannon ${LOAD.connections} connections, ${LOAD.duration} s\n`);
  console.log(
    markdownTable(
      ['scenario', 'requests/s', 'p50 ms', 'p99 ms', 'ratio'],
      [
        ['bare Express 5, JSON POST', formatRate(bare.requests.average), formatMs(bare.latency.p50), formatMs(bare.latency.p99), formatRatio(1)],
        ['Gatehouse TokenReview (verify + audit)', formatRate(tokenReview.requests.average), formatMs(tokenReview.latency.p50), formatMs(tokenReview.latency.p99), formatRatio(tokenReview.requests.average / bare.requests.average)],
      ],
    ),
  );
} finally {
  await gateway.stop();
  await express.stop();
  rmSync(dataDir, { recursive: true, force: true });
  clearTimeout(watchdog);
}
