// `gatehouse serve` with server.workers: 2 (node:cluster), as a real process: one Redis (own
// prefix), one PostgreSQL audit schema, a real sshd behind the SSH listener. Which worker served
// a request is read from the access log (the `request` line with the response's X-Request-Id
// carries the worker's pid); every request that must reach "the other worker" uses a new TCP
// connection, which the primary hands to the next worker.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import type { EmbeddedIdp } from '../../src/demo-idp/server.js';
import { SESSION_COOKIE } from '../../src/web/deps.js';
import { Browser, hiddenInputs } from '../helpers/browsers/browser.js';
import { logInVia } from '../helpers/browsers/sign-in.js';
import { eventually, giveUp } from '../helpers/eventually.js';
import { cliTokens } from '../helpers/gateways/replicas.js';
import { alice, bob, startCorpIdp } from '../helpers/gateways/sso.js';
import { dropSchema, freshSchema, PG_URL, requirePostgres } from '../helpers/peers/postgres.js';
import { closedPort, REDIS_URL, requireRedis } from '../helpers/peers/services.js';
import { fetchUserCert, keygen, NODE_LOGIN, prepareSshd, writeClientConfig, type Sshd } from '../helpers/peers/ssh.js';
import { runChild, startChild, type Child } from '../helpers/processes.js';

const REPO = fileURLToPath(new URL('../..', import.meta.url));
const START_MS = 150_000;

type LogLine = Record<string, unknown> & { msg?: string; pid?: number; requestId?: string };
interface Answer {
  status: number;
  body: string;
  pid: number;
}

const policy = (extra: { roles?: object[]; mappings?: object[] } = {}) => ({
  roles: [{ name: 'admin', audit: 'read', logins: [NODE_LOGIN], node_labels: { env: ['*'] } }, { name: 'developer' }, ...(extra.roles ?? [])],
  mappings: [
    { match: { claim: 'groups', value: 'admins' }, roles: ['admin'] },
    { match: { claim: 'groups', value: 'devs' }, roles: ['developer'] },
    ...(extra.mappings ?? []),
  ],
});

describe('gatehouse serve with two workers', () => {
  let dir: string;
  let url: string;
  let configFile: string;
  let config: Record<string, unknown>;
  let idp: EmbeddedIdp | undefined;
  let gateway: Child | undefined;
  let sshd: Sshd | undefined;
  let sshPort: number;
  let metricsToken: string;
  let pids: number[] = [];
  const logs: LogLine[] = [];
  let stderr = '';
  const schema = freshSchema('workers');
  let ready = false;

  const skipMissing = async (t: TestContext) => {
    if ((await requireRedis(t)) && (await requirePostgres(t))) assert.fail('the gateway did not start');
  };
  const logText = () => `${logs.map((l) => JSON.stringify(l)).join('\n')}\n${stderr}`.slice(-4000);
  const logged = (msg: string) => logs.filter((l) => l.msg === msg);

  /** The pid of the worker that served the request with this id (its access log line). */
  const servedBy = (requestId: string | undefined) =>
    eventually(() => logs.find((l) => l.msg === 'request' && l.requestId === requestId)?.pid, {
      timeoutMs: 10_000,
      message: () => `no access log line for request ${requestId}`,
    });

  /** One request on a TCP connection of its own; resolves with the pid of the worker that served it. */
  const fresh = (path: string, init: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<Answer> =>
    new Promise((resolve, reject) => {
      const req = request(`${url}${path}`, { agent: false, method: init.method ?? 'GET', headers: init.headers }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (body += d));
        res.on('end', () => servedBy(String(res.headers['x-request-id'])).then((pid) => resolve({ status: res.statusCode!, body, pid }), reject));
      });
      req.on('error', reject);
      req.end(init.body);
    });

  /** Asks until every worker has answered; returns the last answer of each, by pid. */
  const fromEveryWorker = async (path: string, init: Parameters<typeof fresh>[1] = {}, until: (a: Answer) => boolean = () => true) => {
    const answers = new Map<number, Answer>();
    await eventually(
      async () => {
        const answer = await fresh(path, init);
        answers.set(answer.pid, answer);
        return pids.every((pid) => answers.has(pid) && until(answers.get(pid)!));
      },
      {
        timeoutMs: 20_000,
        intervalMs: 0,
        message: () =>
          `not every worker answered ${path} as expected: ${JSON.stringify([...answers].map(([pid, a]) => [pid, a.status, a.body.slice(0, 300)]))}`,
      },
    );
    return answers;
  };

  before(
    async (t) => {
      if (!(await requireRedis(t as never)) || !(await requirePostgres(t as never))) return;
      const node = await prepareSshd(t as never);
      if (!node) return;
      dir = mkdtempSync(join(tmpdir(), 'gatehouse-workers-'));
      const [httpPort, ssh] = [await closedPort(), await closedPort()];
      sshPort = ssh;
      url = `http://127.0.0.1:${httpPort}`;
      const corp = await startCorpIdp(url, [alice, bob]);
      idp = corp.idp;
      metricsToken = `metrics-${Math.random().toString(36).slice(2)}-${Date.now()}`;
      writeFileSync(join(dir, 'metrics-token'), metricsToken);
      config = {
        server: { public_url: url, listen: `127.0.0.1:${httpPort}`, workers: 2, metrics_bearer_token_file: join(dir, 'metrics-token') },
        state: { redis_url: REDIS_URL, redis_prefix: `gh-workers-${process.pid}-${Date.now()}:`, data_dir: join(dir, 'data') },
        connectors: [corp.corp],
        ...policy(),
        audit: { backend: 'postgres', postgres_url: PG_URL, postgres_schema: schema },
        ssh: { listen: `127.0.0.1:${sshPort}`, nodes: [{ name: 'node1', addr: `127.0.0.1:${node.port}`, labels: { env: 'dev' }, host_key: node.hostKey }] },
        recordings: { dir: join(dir, 'recordings') },
      };
      configFile = join(dir, 'gatehouse.yaml');
      writeFileSync(configFile, stringify(config));
      gateway = startChild(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'serve', '--config', configFile], {
        cwd: REPO,
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...process.env, LOG_LEVEL: 'info' },
      });
      let partial = '';
      gateway.child.stdout!.on('data', (d: Buffer) => {
        const lines = (partial + d.toString()).split('\n');
        partial = lines.pop()!;
        for (const line of lines) if (line.startsWith('{')) logs.push(JSON.parse(line) as LogLine);
      });
      gateway.child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
      const listening = await eventually(
        () => {
          if (gateway!.child.exitCode !== null) giveUp(`the gateway exited: ${logText()}`);
          return logged('gatehouse is listening')[0];
        },
        { timeoutMs: START_MS, intervalMs: 100, message: () => `the gateway did not start: ${logText()}` },
      );
      pids = listening.pids as number[];
      assert.equal(listening.workers, 2);
      assert.equal(new Set(pids).size, 2, 'two worker processes');
      sshd = await node.start(await (await fetch(`${url}/api/v1/ssh/ca?type=user`)).text());
      ready = true;
    },
    { timeout: START_MS + 30_000 },
  );
  after(async () => {
    await gateway?.stop(20_000);
    await sshd?.stop();
    await idp?.close();
    if (ready) await dropSchema(schema);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('requests on new connections are served by both workers', async (t) => {
    if (!ready) return skipMissing(t);
    const answers = await fromEveryWorker('/healthz');
    assert.deepEqual([...answers.keys()].sort(), [...pids].sort());
    for (const answer of answers.values()) assert.equal(answer.status, 200);
    assert.equal(logged('worker is up').length, 2);
    assert.equal(logged('gatehouse is listening').length, 1, 'the primary logs the start once');
  });

  test('a session made on one worker is valid on the other; a logout through one ends it on both', async (t) => {
    if (!ready) return skipMissing(t);
    const browser = new Browser();
    const callback = await logInVia(browser, url, url, alice);
    assert.equal(callback.status, 302, callback.body);
    const loginPid = await servedBy(String(callback.headers['x-request-id']));
    const cookie = `${SESSION_COOKIE}=${browser.cookie(SESSION_COOKIE)}`;
    const signedIn = await fromEveryWorker('/api/v1/whoami', { headers: { cookie } });
    for (const [pid, answer] of signedIn) {
      assert.equal(answer.status, 200, `worker ${pid}: ${answer.body}`);
      assert.equal(JSON.parse(answer.body).username, 'alice');
    }
    assert.ok(
      [...signedIn.keys()].some((pid) => pid !== loginPid),
      'a worker that did not make the session accepts it',
    );

    const out = await browser.request(`${url}/logout`, { form: hiddenInputs((await browser.request(`${url}/logout`)).body) });
    assert.equal(out.status, 302, out.body);
    const logoutPid = await servedBy(String(out.headers['x-request-id']));
    const refused = await fromEveryWorker('/api/v1/whoami', { headers: { cookie } }, (a) => a.status === 401);
    for (const answer of refused.values()) assert.equal(JSON.parse(answer.body).error, 'unauthenticated');
    assert.ok(
      [...refused.keys()].some((pid) => pid !== logoutPid),
      'the worker that did not serve the logout refuses the session too',
    );
  });

  test('revoking a certificate through one worker ends the SSH connections held by either', { timeout: 90_000 }, async (t) => {
    if (!ready) return skipMissing(t);
    const browser = new Browser();
    assert.equal((await logInVia(browser, url, url, alice)).status, 302);
    const { access_token: token } = await cliTokens(browser, url);
    const key = keygen(dir, 'alice');
    const cert = await fetchUserCert(url, token, key);
    writeFileSync(join(dir, 'known_hosts'), `${cert.known_hosts}\n`);
    const sshConfig = writeClientConfig(dir, { key, knownHosts: join(dir, 'known_hosts'), proxy: `127.0.0.1:${sshPort}`, nodes: ['node1'] });
    // Two connections in a row: the primary hands them to the two workers in turn.
    const sessions = [0, 1].map(() => {
      const ssh = startChild('ssh', ['-F', sshConfig, `${NODE_LOGIN}@node1`, 'echo started; exec sleep 60'], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      ssh.child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
      ssh.child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
      return { ssh, out: () => out };
    });
    for (const s of sessions) await eventually(() => s.out().includes('started'), { timeoutMs: 30_000, message: () => `no session: ${s.out()}` });

    const revoked = await fresh('/api/v1/ssh/certs/revoke', {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ serial: String(cert.serial) }),
    });
    assert.equal(revoked.status, 200, revoked.body);
    for (const s of sessions) {
      const exit = await s.ssh.exited;
      assert.deepEqual(exit, { code: 255, signal: null }, `ended by the gateway: ${s.out()}`);
    }
    const ended = logged('ending an SSH connection: its certificate was revoked');
    assert.deepEqual([...new Set(ended.map((l) => l.pid))].sort(), [...pids].sort(), 'each worker ended the connection it held');
    assert.ok(
      ended.some((l) => l.pid !== revoked.pid),
      'a worker that did not serve the revocation ended its connection',
    );
  });

  test('the audit chain verifies after concurrent requests through both workers; /metrics sums the workers', async (t) => {
    if (!ready) return skipMissing(t);
    const metrics = { headers: { authorization: `Bearer ${metricsToken}` } };
    const failedLogins = (text: string) => Number(/^gatehouse_audit_events_total\{type="user\.login",outcome="failure"\} (\d+)$/m.exec(text)?.[1] ?? 0);
    const before = failedLogins((await fresh('/metrics', metrics)).body);

    // Unknown connectors: each is a user.login failure, written to the one chain by whichever worker served it.
    const burst = await Promise.all(Array.from({ length: 40 }, () => fresh('/login/no-such-connector')));
    assert.deepEqual(
      burst.map((a) => a.status),
      Array(40).fill(404),
    );
    assert.deepEqual([...new Set(burst.map((a) => a.pid))].sort(), [...pids].sort(), 'both workers wrote events');

    const scraped = await fromEveryWorker('/metrics', metrics, (a) => failedLogins(a.body) === before + 40);
    for (const answer of scraped.values()) assert.equal(answer.status, 200);

    const browser = new Browser();
    assert.equal((await logInVia(browser, url, url, alice)).status, 302);
    const { access_token: token } = await cliTokens(browser, url);
    const verified = await fromEveryWorker('/api/v1/audit/verify', { headers: { authorization: `Bearer ${token}` } });
    for (const answer of verified.values()) {
      assert.equal(answer.status, 200, answer.body);
      const body = JSON.parse(answer.body) as { ok: boolean; backend: string; events?: number };
      assert.equal(body.backend, 'postgres');
      assert.equal(body.ok, true, answer.body);
    }
  });

  test('SIGHUP to the primary reloads the policy in every worker; a broken file changes nothing', async (t) => {
    if (!ready) return skipMissing(t);
    const browser = new Browser();
    assert.equal((await logInVia(browser, url, url, bob)).status, 302);
    const cookie = { headers: { cookie: `${SESSION_COOKIE}=${browser.cookie(SESSION_COOKIE)}` } };
    const roles = (a: Answer) => (JSON.parse(a.body) as { roles: string[] }).roles;
    for (const answer of (await fromEveryWorker('/api/v1/whoami', cookie)).values()) assert.deepEqual(roles(answer), ['developer']);

    // A broken file changes nothing; a SIGHUP straight to a worker is ignored (the primary sends reloads).
    writeFileSync(configFile, stringify({ ...config, roles: [{ name: 'developer', logins: 'not-a-list' }] }));
    process.kill(gateway!.child.pid!, 'SIGHUP');
    await eventually(() => logged('config reload failed; keeping the running policy').length === 1, {
      timeoutMs: 10_000,
      message: () => `no reload failure logged: ${logText()}`,
    });
    process.kill(pids[0], 'SIGHUP');
    for (const answer of (await fromEveryWorker('/api/v1/whoami', cookie)).values()) assert.deepEqual(roles(answer), ['developer']);

    writeFileSync(
      configFile,
      stringify({ ...config, ...policy({ roles: [{ name: 'reviewer' }], mappings: [{ match: { email: 'bob@*' }, roles: ['reviewer'] }] }) }),
    );
    process.kill(gateway!.child.pid!, 'SIGHUP');
    await fromEveryWorker('/api/v1/whoami', cookie, (a) => roles(a).includes('reviewer'));
    assert.equal(gateway!.child.exitCode, null, 'the primary runs on');
    assert.ok(
      pids.every((pid) => isAlive(pid)),
      'no worker died of the signal',
    );
  });

  // Last: it ends the gateway the other tests use.
  test('a killed worker is restarted while the other serves; SIGTERM stops all of them and the primary exits 0', { timeout: 120_000 }, async (t) => {
    if (!ready) return skipMissing(t);
    const [victim, survivor] = pids;
    process.kill(victim, 'SIGKILL');
    const restarting = await eventually(() => logged('worker exited; restarting it').find((l) => l.pid === victim), {
      timeoutMs: 10_000,
      message: () => `the primary did not notice: ${logText()}`,
    });
    assert.equal(restarting.signal, 'SIGKILL');
    // Meanwhile the surviving worker serves every new connection.
    assert.equal((await fresh('/healthz')).status, 200);
    const up = await eventually(() => logged('worker is up').find((l) => !pids.includes(l.pid!)), {
      timeoutMs: 90_000,
      intervalMs: 100,
      message: () => `no replacement worker: ${logText()}`,
    });
    assert.equal(up.worker, restarting.worker, 'the replacement takes the dead worker’s slot');
    pids = [survivor, up.pid!];
    const answers = await fromEveryWorker('/healthz');
    assert.deepEqual([...answers.keys()].sort(), [...pids].sort());

    // The signal to the primary only (not its process group): it stops the workers itself.
    process.kill(gateway!.child.pid!, 'SIGTERM');
    assert.deepEqual(await gateway!.exited, { code: 0, signal: null }, logText());
    assert.equal(logged('shutting down').length, 2, 'each worker shut down gracefully');
    for (const pid of [...pids, victim]) assert.equal(isAlive(pid), false, `worker ${pid} is gone`);
  });
});

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('server.workers refused without shared state', () => {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-workers-config-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const base = {
    server: { public_url: 'http://127.0.0.1:8080', workers: 2 },
    connectors: [{ type: 'oidc', id: 'corp', issuer: 'http://127.0.0.1:9/', client_id: 'gatehouse', client_secret: 'unused' }], // secret-scan: allow
  };
  const serve = async (name: string, tree: object) => {
    const file = join(dir, `${name}.yaml`);
    writeFileSync(file, stringify(tree));
    return runChild(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'serve', '--config', file], { cwd: REPO, timeoutMs: 60_000 });
  };

  test('workers: 2 with the in-memory store and the file audit log: exit 2, both problems at server.workers', async () => {
    const run = await serve('memory', base);
    assert.equal(run.code, 2, run.stderr);
    assert.match(run.stderr, /invalid configuration/);
    assert.match(run.stderr, /server\.workers: 2 workers need state\.redis_url/);
    assert.match(run.stderr, /server\.workers: 2 workers need audit\.backend: postgres: the file backend keeps one hash chain in one file/);
  });

  test('workers: 2 with Redis but the file audit log: exit 2 naming the audit backend', async () => {
    const run = await serve('file-audit', { ...base, state: { redis_url: 'redis://127.0.0.1:9' } });
    assert.equal(run.code, 2, run.stderr);
    assert.doesNotMatch(run.stderr, /state\.redis_url/);
    assert.match(run.stderr, /server\.workers: 2 workers need audit\.backend: postgres/);
  });
});
