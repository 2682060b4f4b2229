// bench/scale: what a second replica buys on this machine, and how fast a logout on one replica
// takes effect on the other.
//   (a) forward-auth (GET /auth/verify?app=, gateway bearer) and TokenReview requests/s against
//       one replica, then spread over two (autocannon with both URLs), ratio 2:1;
//   (b) logout on replica A, then poll whoami on replica B with the same cookie until 401.
// Both replicas share one Redis (a unique prefix, deleted afterwards) and one public_url.
// 127.0.0.1 only; about 40 s. A scenario (or logout run) that fails shows "FAILED: <message>"
// and the bench goes on.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import autocannon from 'autocannon';
import { randomId } from '../src/core/ids.js';
import { closedPort } from '../test/helpers/peers/services.js';
import { Browser, redirectedTo } from '../test/helpers/browsers/browser.js';
import { signInThroughIdp } from '../test/helpers/browsers/sign-in.js';
import { dropKeys } from './lib/redis.js';
import { killAll, startServer, type BenchServer, type ReadyMessage } from './lib/children.js';
import { busyWarning, formatMs, formatRate, formatRatio, machineSummary, markdownTable, percentile } from './lib/report.js';
import { errorMessage, failedRows, row, tryRow } from './lib/rows.js';

const REDIS_URL = process.env.GATEHOUSE_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const LOAD = { connections: 50, pipelining: 1, duration: 5 };
const watchdog = setTimeout(() => {
  killAll();
  console.error('bench/scale: watchdog fired after 180 s');
  process.exit(2);
}, 180_000);

type Replica = BenchServer<ReadyMessage & { clusterToken: string; gatewayToken: string }>;

const warning = await busyWarning();
const prefix = `gatehouse-bench-scale:${randomId(6)}:`;
const dataDir = mkdtempSync(join(tmpdir(), 'gh-bench-scale-'));
const reviewer = randomId(24);
const password = randomId(12);
const ports = [await closedPort(), await closedPort()];
const publicUrl = `http://127.0.0.1:${ports[0]}`;
const replicas: Replica[] = [];
try {
  for (const [i, port] of ports.entries()) {
    replicas.push(
      await startServer(new URL('./lib/scale-gateway-server.ts', import.meta.url), {
        BENCH_PORT: String(port),
        BENCH_PUBLIC_URL: publicUrl,
        BENCH_REDIS_URL: REDIS_URL,
        BENCH_REDIS_PREFIX: prefix,
        BENCH_DATA_DIR: join(dataDir, `r${i}`),
        BENCH_REVIEWER_TOKEN: reviewer,
        BENCH_PASSWORD: password,
      }),
    );
  }
  const [a, b] = replicas;
  const urls = replicas.map((r) => r.ready.url);

  const review = JSON.stringify({ apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token: a.ready.clusterToken } });
  const scenarios = {
    'forward-auth /auth/verify': (targets: string[]) =>
      autocannon({
        url: targets.map((u) => `${u}/auth/verify?app=grafana`) as unknown as string,
        headers: { authorization: `Bearer ${a.ready.gatewayToken}` },
        ...LOAD,
      }),
    TokenReview: (targets: string[]) =>
      autocannon({
        url: targets.map((u) => `${u}/apis/authentication.k8s.io/v1/tokenreviews`) as unknown as string,
        method: 'POST',
        body: review,
        headers: { 'content-type': 'application/json', authorization: `Bearer ${reviewer}` },
        ...LOAD,
      }),
  };
  const rows: string[][] = [];
  for (const [name, run] of Object.entries(scenarios)) {
    rows.push(
      await row(name, 5, async () => {
        await run(urls.slice(0, 1)); // warm-up
        const one = await run(urls.slice(0, 1));
        const two = await run(urls);
        for (const r of [one, two]) if (r.non2xx || r.errors) throw new Error(`${r.non2xx} non-2xx, ${r.errors} errors`);
        return [
          formatRate(one.requests.average),
          formatRate(two.requests.average),
          formatRatio(two.requests.average / one.requests.average),
          `${formatMs(one.latency.p99)} / ${formatMs(two.latency.p99)}`,
        ];
      }),
    );
  }

  // (b) logout propagation: log in on A through the demo IdP, use the session on B, log out on A.
  const delays: number[] = [];
  let logoutFailures = 0;
  let firstLogoutError: string | undefined;
  const logoutRun = async () => {
    const browser = new Browser();
    const callback = `${publicUrl}/callback/`;
    const done = await signInThroughIdp(browser, await browser.go(`${publicUrl}/login/demo`), { username: 'alice', password }, callback);
    await browser.request(redirectedTo(done, callback).href);
    const cookie = `gatehouse_session=${browser.cookie('gatehouse_session')}`;
    const onB = () => fetch(`${b.ready.url}/api/v1/whoami`, { headers: { cookie } }).then((r) => r.status);
    if ((await onB()) !== 200) throw new Error('the session does not work on replica B');
    const start = performance.now();
    await fetch(`${a.ready.url}/logout`, { method: 'POST', headers: { cookie, 'sec-fetch-site': 'same-origin' }, redirect: 'manual' });
    while ((await onB()) !== 401) if (performance.now() - start > 5000) throw new Error('logout did not reach replica B within 5 s');
    return performance.now() - start;
  };
  for (let i = 0; i < 5; i++) {
    const r = await tryRow(`logout run ${i + 1}`, logoutRun);
    if (r.ok) delays.push(r.value);
    else {
      logoutFailures++;
      firstLogoutError ??= r.error;
    }
  }

  console.log(`\nbench/scale on ${machineSummary()}`);
  if (warning) console.log(warning);
  console.log(`\n(a) requests/s, autocannon ${LOAD.connections} connections, ${LOAD.duration} s; two replicas share this machine's 2 cores\n`);
  console.log(markdownTable(['scenario', '1 replica req/s', '2 replicas req/s', 'ratio', 'p99 ms (1 / 2)'], rows));
  const failedNote = logoutFailures ? `; ${logoutFailures} FAILED (first: ${firstLogoutError})` : '';
  console.log(
    `\n(b) logout on A until B refuses the cookie (includes the logout request), ${delays.length} runs: ` +
      (delays.length ? `median ${formatMs(percentile(delays, 50))} ms, max ${formatMs(Math.max(...delays))} ms` : 'no run succeeded') +
      failedNote,
  );
  if (failedRows > 0) process.exitCode = 1;
} finally {
  await Promise.all(replicas.map((r) => r.stop()));
  await dropKeys(prefix, REDIS_URL).catch((err: unknown) =>
    console.error(`bench/scale: could not remove the ${prefix}* keys from Redis: ${errorMessage(err)}`),
  );
  rmSync(dataDir, { recursive: true, force: true });
  clearTimeout(watchdog);
}
