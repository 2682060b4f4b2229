// bench/kube: what kubectl pays per command for Gatehouse credentials, and TokenReview throughput.
//   (a) wall time of `gatehouse kube credentials` with a warm cache, next to `node -e 0` (the floor of
//       any Node CLI): N sequential runs each, interleaved, built CLI (dist/);
//   (b) TokenReview requests/s (autocannon, 50 connections, 5 s) next to a bare Express JSON POST route.
// Everything on 127.0.0.1; bounded to well under a minute. A row that fails (a CLI run, a load)
// shows "FAILED: <message>" and the bench goes on.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import autocannon from 'autocannon';
import { randomId } from '../src/core/ids.js';
import { killAll, startServer, type ReadyMessage } from './lib/children.js';
import { busyWarning, formatMs, formatRate, formatRatio, machineSummary, markdownTable, percentile } from './lib/report.js';
import { failedCells, failedRows, tryRow, type RowResult } from './lib/rows.js';

const RUNS = 20;
const LOAD = { connections: 50, pipelining: 1, duration: 5 };
const watchdog = setTimeout(() => {
  killAll();
  console.error('bench/kube: watchdog fired after 120 s');
  process.exit(2);
}, 120_000);

// (a) runs the built CLI; without a build its row fails and (b) still runs.
const build = spawnSync('npm', ['run', '--silent', 'build'], { stdio: 'inherit' });
const buildError = build.status === 0 ? undefined : `npm run build failed (${build.error?.message ?? `exit ${build.status ?? build.signal}`})`;

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
    JSON.stringify({
      server,
      refresh_token: 'ghr_unused',
      clusters: { prod: { name: 'prod', audience: 'gatehouse:prod', mode: 'oidc', api_server: 'https://127.0.0.1:6443' } },
      kube: { prod: { token: gateway.ready.token, expires_at: Date.now() + 3_600_000 } },
    }),
    { mode: 0o600 },
  );
  const time = (args: string[], env: NodeJS.ProcessEnv = process.env) => {
    const start = process.hrtime.bigint();
    const run = spawnSync(process.execPath, args, { env, encoding: 'utf8' });
    if (run.status !== 0) throw new Error(`${args.join(' ')} failed: ${run.stderr}`);
    return Number(process.hrtime.bigint() - start) / 1e6;
  };
  const cliEnv = {
    ...process.env,
    GATEHOUSE_HOME: home,
    KUBERNETES_EXEC_INFO: '{"apiVersion":"client.authentication.k8s.io/v1beta1","spec":{"interactive":false}}',
  };
  // Interleaved runs; a command that fails once is not run again, and its row shows the error.
  const commands = [
    { label: 'node -e 0 (floor)', args: ['-e', '0'], env: process.env, samples: [] as number[], error: undefined as string | undefined },
    {
      label: 'gatehouse kube credentials (warm cache)',
      args: ['dist/cli/main.js', 'kube', 'credentials', '--cluster', 'prod', '--server', server],
      env: cliEnv,
      samples: [] as number[],
      error: buildError && `FAILED: ${buildError}`,
    },
  ];
  for (let i = 0; i < RUNS; i++) {
    for (const c of commands) {
      if (c.error) continue;
      const r = await tryRow(c.label, () => time(c.args, c.env));
      if (r.ok) c.samples.push(r.value);
      else c.error = r.cell;
    }
  }
  const [floor, credentials] = commands;

  // (b) TokenReview vs a bare Express JSON POST.
  const review = JSON.stringify({
    apiVersion: 'authentication.k8s.io/v1',
    kind: 'TokenReview',
    spec: { token: gateway.ready.token, audiences: ['gatehouse:prod'] },
  });
  const load = (url: string, headers: Record<string, string>) =>
    autocannon({ url, method: 'POST', body: review, headers: { 'content-type': 'application/json', ...headers }, ...LOAD });
  const checked = async (url: string, headers: Record<string, string>) => {
    const r = await load(url, headers);
    if (r.non2xx || r.errors) throw new Error(`${r.non2xx} non-2xx answers and ${r.errors} errors`);
    return r;
  };
  const bareLabel = 'bare Express 5, JSON POST';
  const reviewLabel = 'Gatehouse TokenReview (verify + audit)';
  const bare = await tryRow(bareLabel, async () => {
    await load(`${express.ready.url}/json`, {}); // warm-up
    return checked(`${express.ready.url}/json`, {});
  });
  const tokenReview = await tryRow(reviewLabel, () => checked(`${server}/apis/authentication.k8s.io/v1/tokenreviews`, { authorization: `Bearer ${reviewer}` }));

  const median = (xs: number[]) => percentile(xs, 50);
  const cliRow = (c: (typeof commands)[number]) =>
    c.error
      ? failedCells(`${c.label}${c.samples.length ? ` (${c.samples.length} runs before it failed)` : ''}`, c.error, 4)
      : [
          c.label,
          formatMs(median(c.samples)),
          formatMs(percentile(c.samples, 90)),
          floor.error ? 'n/a' : formatRatio(median(c.samples) / median(floor.samples)),
        ];
  type Load = Awaited<ReturnType<typeof load>>;
  const loadRow = (label: string, r: RowResult<Load>) =>
    r.ok
      ? [
          label,
          formatRate(r.value.requests.average),
          formatMs(r.value.latency.p50),
          formatMs(r.value.latency.p99),
          bare.ok ? formatRatio(r.value.requests.average / bare.value.requests.average) : 'n/a',
        ]
      : failedCells(label, r.cell, 5);
  console.log(`\nbench/kube on ${machineSummary()}`);
  if (warning) console.log(warning);
  console.log(`\n(a) CLI wall time, ${RUNS} runs each, median and p90\n`);
  console.log(markdownTable(['command', 'median ms', 'p90 ms', 'ratio'], [cliRow(floor), cliRow(credentials)]));
  console.log(`\n(b) requests/s, autocannon ${LOAD.connections} connections, ${LOAD.duration} s\n`);
  console.log(markdownTable(['scenario', 'requests/s', 'p50 ms', 'p99 ms', 'ratio'], [loadRow(bareLabel, bare), loadRow(reviewLabel, tokenReview)]));
  if (failedRows > 0 || commands.some((c) => c.error)) process.exitCode = 1;
} finally {
  await gateway.stop();
  await express.stop();
  rmSync(dataDir, { recursive: true, force: true });
  clearTimeout(watchdog);
}
