// bench/soak: a bounded soak of one gateway at a fixed request rate, reporting errors and memory.
// Mixed load on 127.0.0.1 for SOAK_SECONDS (default 300): a full demo-IdP login every 2 s, a
// recorded SSH session (real ssh -tt through the gateway to a real sshd) every 5 s, and 20
// requests/s each of whoami (session cookie), forward-auth (gateway bearer) and TokenReview.
// Passes when no request fails unexpectedly and RSS grows by less than SOAK_RSS_BOUND_MIB (64).
// Failures are counted per kind (with the first error); if the SSH setup fails, the SSH row says
// so and the HTTP load still runs.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomId } from '../src/core/ids.js';
import { Browser, redirectedTo } from '../test/helpers/browsers/browser.js';
import { signInThroughIdp } from '../test/helpers/browsers/sign-in.js';
import { closedPort } from '../test/helpers/peers/services.js';
import { fetchUserCert, keygen, prepareSshd, runSsh, writeClientConfig, type Sshd } from '../test/helpers/peers/ssh.js';
import { dropKeys } from './lib/redis.js';
import { killAll, startServer, type ReadyMessage } from './lib/children.js';
import { errorMessage, tryRow } from './lib/rows.js';

const SECONDS = Number(process.env.SOAK_SECONDS ?? 300);
const RSS_BOUND_MIB = Number(process.env.SOAK_RSS_BOUND_MIB ?? 64);
const RATE = 20;
const REDIS_URL = process.env.GATEHOUSE_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const watchdog = setTimeout(
  () => {
    killAll();
    console.error('bench/soak: watchdog fired');
    process.exit(2);
  },
  (SECONDS + 120) * 1000,
);

const prefix = `gatehouse-soak:${randomId(6)}:`;
const dataDir = mkdtempSync(join(tmpdir(), 'gh-soak-'));
const reviewer = randomId(24);
const password = randomId(12);
const port = await closedPort();
const url = `http://127.0.0.1:${port}`;
// A real sshd node (prepared first: the gateway's node config needs its port and host key).
const node = await prepareSshd({
  skip: (reason: string) => {
    throw new Error(`bench/soak needs OpenSSH: ${reason}`);
  },
} as never);
if (!node) throw new Error('bench/soak needs sshd');
const sshPort = await closedPort();
const gw = await startServer<ReadyMessage & { clusterToken: string; gatewayToken: string; metricsToken: string }>(
  new URL('./lib/scale-gateway-server.ts', import.meta.url),
  {
    BENCH_SSH_PORT: String(sshPort),
    BENCH_SSH_NODE: `127.0.0.1:${node.port}`,
    BENCH_SSH_HOST_KEY: node.hostKey,
    BENCH_PORT: String(port),
    BENCH_PUBLIC_URL: url,
    BENCH_REDIS_URL: REDIS_URL,
    BENCH_REDIS_PREFIX: prefix,
    BENCH_DATA_DIR: dataDir,
    BENCH_REVIEWER_TOKEN: reviewer,
    BENCH_PASSWORD: password,
  },
);

const rssMib = async () => {
  const r = await tryRow('gateway RSS from /metrics', async () => {
    const res = await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${gw.ready.metricsToken}` } });
    const text = await res.text();
    const bytes = /^process_resident_memory_bytes (\d+)/m.exec(text)?.[1];
    if (res.status !== 200 || !bytes) throw new Error(`GET /metrics answered ${res.status} without process_resident_memory_bytes: ${text.slice(0, 200)}`);
    return Number(bytes) / 2 ** 20;
  });
  return r.ok ? r.value : NaN;
};
const counts: Record<string, { ok: number; failed: number; firstError?: string }> = {};
const record = (kind: string, ok: boolean, error?: string) => {
  const c = (counts[kind] ??= { ok: 0, failed: 0 });
  if (ok) c.ok++;
  else {
    c.failed++;
    c.firstError ??= error;
  }
};
const attempt = async (kind: string, fn: () => Promise<boolean>) => {
  try {
    record(kind, await fn());
  } catch (err) {
    record(kind, false, errorMessage(err));
  }
};

const login = async (): Promise<string> => {
  const browser = new Browser();
  const callback = `${url}/callback/`;
  const back = await signInThroughIdp(browser, await browser.go(`${url}/login/demo`), { username: 'alice', password }, callback);
  const done = await browser.request(redirectedTo(back, callback).href);
  if (done.status !== 302) throw new Error(`callback answered ${done.status}`);
  return `gatehouse_session=${browser.cookie('gatehouse_session')}`;
};

let sshd: Sshd | undefined;
try {
  const sshSetup = await tryRow('ssh setup', async () => {
    sshd = await node.start(await (await fetch(`${url}/api/v1/ssh/ca?type=user`)).text());
    const key = keygen(dataDir, 'soak');
    const cert = await fetchUserCert(url, gw.ready.gatewayToken, key);
    writeFileSync(join(dataDir, 'known_hosts'), `${cert.known_hosts}\n`);
    return writeClientConfig(dataDir, { key, knownHosts: join(dataDir, 'known_hosts'), proxy: `127.0.0.1:${sshPort}`, nodes: ['node1'] });
  });
  const sshSession = async () => {
    if (!sshSetup.ok) throw new Error(`SSH setup failed: ${sshSetup.error}`);
    const run = await runSsh('ssh', ['-F', sshSetup.value, '-tt', 'root@node1'], { input: 'echo soak-$((6*7))\nexit\n', timeoutMs: 60_000 });
    if (run.code !== 0 || !run.stdout.includes('soak-42')) throw new Error(`ssh exited ${run.code}: ${run.stderr.slice(0, 200)}`);
    return true;
  };
  // The first login gives whoami its cookie; if it fails, it is counted and whoami fails (and is counted) until a later login works.
  const first = await tryRow('first login', login);
  record('login', first.ok, first.ok ? undefined : first.error);
  let cookie = first.ok ? first.value : '';
  const review = JSON.stringify({ apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token: gw.ready.clusterToken } });
  // Warm up before the first memory reading.
  for (let i = 0; i < 200; i++) await fetch(`${url}/api/v1/whoami`, { headers: { cookie } });
  const rssStart = await rssMib();
  const started = Date.now();
  let tick = 0;
  const inflight = new Set<Promise<void>>();
  const fire = (p: Promise<void>) => {
    inflight.add(p);
    void p.finally(() => inflight.delete(p));
  };
  while (Date.now() - started < SECONDS * 1000) {
    tick++;
    fire(attempt('whoami', async () => (await fetch(`${url}/api/v1/whoami`, { headers: { cookie } })).status === 200));
    fire(
      attempt(
        'forward-auth',
        async () => (await fetch(`${url}/auth/verify?app=grafana`, { headers: { authorization: `Bearer ${gw.ready.gatewayToken}` } })).status === 200,
      ),
    );
    fire(
      attempt('tokenreview', async () => {
        const res = await fetch(`${url}/apis/authentication.k8s.io/v1/tokenreviews`, {
          method: 'POST',
          body: review,
          headers: { 'content-type': 'application/json', authorization: `Bearer ${reviewer}` },
        });
        return res.status === 201 && ((await res.json()) as { status: { authenticated: boolean } }).status.authenticated;
      }),
    );
    if (tick % (RATE * 2) === 0) fire(attempt('login', async () => Boolean((cookie = await login()))));
    if (tick % (RATE * 5) === 0) fire(attempt('ssh session', sshSession));
    await new Promise((r) => setTimeout(r, 1000 / RATE));
  }
  await Promise.all(inflight);
  const rssEnd = await rssMib();
  const failed = Object.values(counts).reduce((n, c) => n + c.failed, 0);
  console.log(`\nbench/soak: ${SECONDS} s at ${RATE} req/s per kind (+1 login / 2 s)`);
  console.log('| kind | ok | failed | first error |\n| --- | --- | --- | --- |');
  for (const [kind, c] of Object.entries(counts)) console.log(`| ${kind} | ${c.ok} | ${c.failed} | ${c.firstError ?? ''} |`);
  console.log(`\nRSS ${rssStart.toFixed(1)} MiB → ${rssEnd.toFixed(1)} MiB (${(rssEnd - rssStart).toFixed(1)} MiB; bound ${RSS_BOUND_MIB} MiB)`);
  const pass = failed === 0 && rssEnd - rssStart < RSS_BOUND_MIB; // NaN (no reading) fails
  console.log(pass ? 'soak: PASS' : 'soak: FAIL');
  process.exitCode = pass ? 0 : 1;
} finally {
  await gw.stop();
  await sshd?.stop();
  await dropKeys(prefix, REDIS_URL).catch((err: unknown) => console.error(`bench/soak: could not remove the ${prefix}* keys from Redis: ${errorMessage(err)}`));
  rmSync(dataDir, { recursive: true, force: true });
  clearTimeout(watchdog);
}
