import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parse as parseYaml } from 'yaml';
import type { AuditEvent } from '../../src/audit/sink.js';
import { Browser } from '../helpers/browsers/browser.js';
import { BrowserCommand } from '../helpers/browsers/browser-command.js';
import { eventually } from '../helpers/eventually.js';
import { startKubeProxyStandin } from '../helpers/peers/kube-proxy-standin.js';
import { closedPort, requireBinary } from '../helpers/peers/services.js';
import { alice, startSso, type SsoSetup } from '../helpers/gateways/sso.js';
import { makeTls } from '../helpers/peers/tls.js';
import { startRun } from '../helpers/processes.js';
import { logIn } from '../helpers/browsers/sign-in.js';

const CLI = ['--import', 'tsx', join(process.cwd(), 'src/cli/main.ts')];

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** alice (groups admins, devs) gets both roles; admin may act as the Kubernetes user ci-deployer. */
const policy = {
  roles: [
    { name: 'admin', kubernetes_groups: ['platform-admins'], kubernetes_users: ['ci-deployer'], audit: 'read' },
    { name: 'developer', kubernetes_groups: ['developers'] },
  ],
  mappings: [
    { match: { claim: 'groups', value: 'admins' }, roles: ['admin'] },
    { match: { claim: 'groups', value: 'devs' }, roles: ['developer'] },
  ],
};

describe('kubectl through the Gatehouse Kubernetes proxy (impersonation, audit, streaming, exec)', () => {
  let s: SsoSetup;
  let standin: Awaited<ReturnType<typeof startKubeProxyStandin>>;
  const metricsToken = randomBytes(24).toString('base64url');
  let home: string;
  let kubeconfig: string;
  let kubectl: string | undefined;
  let ca: string;
  let proxyUrl: string;
  let token: string;

  const env = () => ({
    ...process.env,
    HOME: home,
    GATEHOUSE_HOME: join(home, '.gatehouse'),
    GATEHOUSE_BROWSER: join(home, 'fake-browser.sh'),
    KUBECONFIG: kubeconfig,
  });
  // Asynchronous spawn: the gateway runs in this process and must keep answering.
  const start = (command: string, args: string[]): { child: ChildProcess; done: Promise<Run>; stdout: () => string } => {
    const started = startRun(command, args, { env: env() });
    const done = started.done.then((r): Run => ({ status: r.code, stdout: r.stdout, stderr: r.stderr }));
    return { child: started.child, done, stdout: started.stdout };
  };
  const run = (command: string, args: string[]) => start(command, args).done;
  const k = (...args: string[]) => run(kubectl!, ['--context', 'prod', ...args]);
  const events = (type: string) => s.gw.auditEvents().filter((e) => e.type === type);
  /** Raw HTTPS to the proxy, for what kubectl cannot send. */
  const raw = (path: string, headers: Record<string, string | string[]>) =>
    new Promise<{ status: number; body: Record<string, unknown> }>((resolve, reject) => {
      const req = request(`${proxyUrl}${path}`, { ca, headers }, (res) => {
        let body = '';
        res.on('data', (d) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode!, body: JSON.parse(body) }));
      });
      req.on('error', reject);
      req.end();
    });
  /** Audit events of `type` written while `action` ran. */
  /** Runs an action and returns the events of `type` it caused: kube.request is written when the response ends, so wait for the first. */
  const during = async <T>(type: string, action: () => Promise<T>): Promise<{ result: T; events: AuditEvent[] }> => {
    const before = events(type).length;
    const result = await action();
    await eventually(() => events(type).length > before, { timeoutMs: 10_000, intervalMs: 25, message: `no ${type} event was written` });
    // A short settle, so a second (unexpected) event would be seen too.
    await new Promise((r) => setTimeout(r, 100));
    return { result, events: events(type).slice(before) };
  };

  before(async () => {
    const tls = makeTls();
    const saToken = randomBytes(24).toString('base64url');
    writeFileSync(join(tls.dir, 'sa-token'), saToken, { mode: 0o600 });
    writeFileSync(join(tls.dir, 'metrics-token'), metricsToken, { mode: 0o600 });
    standin = await startKubeProxyStandin({ tls, token: saToken });
    const cluster = (name: string) => ({
      name,
      audience: `gatehouse:${name}`,
      mode: 'proxy',
      api_server: standin.url,
      ca_file: tls.caFile,
      token_file: join(tls.dir, 'sa-token'),
    });
    home = mkdtempSync(join(tmpdir(), 'gh-kproxy-'));
    const down = { ...cluster('down'), api_server: `https://127.0.0.1:${await closedPort()}` };
    s = await startSso({
      ...policy,
      clusters: [cluster('prod'), cluster('staging'), down],
      kube_proxy: { listen: '127.0.0.1:0', audit_discovery: false },
      recordings: { dir: join(home, 'recordings') },
      server: { metrics_bearer_token_file: join(tls.dir, 'metrics-token') },
    });
    kubeconfig = join(home, 'kubeconfig');
    const browserCommand = new BrowserCommand(home);
    const browser = new Browser();
    await logIn(browser, s.gw, 'Corp SSO', alice);
    // gatehouse login (loopback flow): the test plays the browser with its signed-in session.
    const login = start(process.execPath, [...CLI, 'login', '--server', s.gw.url]);
    const authorize = await browser.request(await browserCommand.next());
    await browser.request(authorize.location!);
    const loggedIn = await login.done;
    assert.equal(loggedIn.status, 0, loggedIn.stderr);
    const kubeLogin = await run(process.execPath, [...CLI, 'kube', 'login', 'prod', '--server', s.gw.url, '--kubeconfig', kubeconfig]);
    assert.equal(kubeLogin.status, 0, kubeLogin.stderr);
    const config = parseYaml(readFileSync(kubeconfig, 'utf8'));
    proxyUrl = config.clusters[0].cluster.server.replace(/\/k8s\/prod$/, '');
    ca = Buffer.from(config.clusters[0].cluster['certificate-authority-data'], 'base64').toString();
    const credential = await run(process.execPath, [...CLI, 'kube', 'credentials', '--cluster', 'prod', '--server', s.gw.url]);
    token = JSON.parse(credential.stdout).status.token;
  });
  after(async () => {
    await s?.stop();
    await standin?.close();
  });

  test('gatehouse kube login points kubectl at the proxy and embeds the CA Gatehouse created', () => {
    const config = parseYaml(readFileSync(kubeconfig, 'utf8'));
    assert.equal(config.clusters[0].cluster.server, `${s.gw.gateway.kubeProxy!.clusterUrl('prod')}`);
    assert.match(config.clusters[0].cluster.server, /^https:\/\/127\.0\.0\.1:\d+\/k8s\/prod$/);
    assert.equal(ca, readFileSync(join(s.gw.dataDir, 'kube-proxy', 'ca.crt'), 'utf8'));
    for (const file of ['ca.key', 'ca.crt', 'tls.key', 'tls.crt']) assert.equal(statSync(join(s.gw.dataDir, 'kube-proxy', file)).mode & 0o777, 0o600, file);
  });

  test('kubectl get: the API server sees exactly the mapped identity; one kube.request with the parsed fields', async (t) => {
    kubectl = requireBinary(t, 'kubectl');
    if (!kubectl) return;
    const seenBefore = standin.seen.length;
    const { result: list, events: audited } = await during('kube.request', () => k('get', 'pods', '-n', 'team-a', '-o', 'json'));
    assert.equal(list.status, 0, list.stderr);
    const pod = JSON.parse(list.stdout).items[0];
    assert.equal(pod.metadata.annotations.user, 'gatehouse:alice');
    assert.equal(pod.metadata.annotations.groups, 'developers,platform-admins,system:authenticated');
    const requests = standin.seen.slice(seenBefore);
    assert.ok(requests.length >= 1);
    for (const r of requests) {
      assert.equal(r.user, 'gatehouse:alice');
      assert.deepEqual(r.groups, ['developers', 'platform-admins', 'system:authenticated']);
      assert.deepEqual(r.extra, {
        'gatehouse.dev/connector': ['corp'],
        'gatehouse.dev/roles': ['admin', 'developer'],
        'gatehouse.dev/remote-addr': ['127.0.0.1'],
      });
    }
    // Discovery is not audited here (audit_discovery: false): one event for the one call.
    assert.equal(audited.length, 1, JSON.stringify(audited));
    const [e] = audited;
    assert.equal(e.outcome, 'success');
    assert.equal(e.user, 'alice');
    assert.equal(e.cluster, 'prod');
    assert.deepEqual(e.roles, ['admin', 'developer']);
    assert.equal(e.code, 'GH4010I');
    assert.deepEqual(
      {
        verb: e.details!.verb,
        api_group: e.details!.api_group,
        resource: e.details!.resource,
        namespace: e.details!.namespace,
        code: e.details!.code,
        user: e.details!.impersonated_user,
        groups: e.details!.groups,
      },
      {
        verb: 'list',
        api_group: '',
        resource: 'pods',
        namespace: 'team-a',
        code: 200,
        user: 'gatehouse:alice',
        groups: ['developers', 'platform-admins', 'system:authenticated'],
      },
    );
    assert.equal(typeof e.details!.duration_ms, 'number');

    const { result: get, events: gets } = await during('kube.request', () => k('get', 'pod', 'web-1', '-n', 'team-a', '-o', 'name'));
    assert.equal(get.status, 0, get.stderr);
    assert.equal(get.stdout.trim(), 'pod/web-1');
    assert.equal(gets.length, 1);
    assert.deepEqual([gets[0].details!.verb, gets[0].details!.resource, gets[0].details!.name, gets[0].details!.namespace], ['get', 'pods', 'web-1', 'team-a']);
    const metrics = await (await fetch(`${s.gw.url}/metrics`, { headers: { authorization: `Bearer ${metricsToken}` } })).text();
    assert.match(
      metrics,
      /^gatehouse_proxy_request_duration_seconds_count\{kind="kube",target="prod",code="200"\} [1-9]/m,
      'proxied requests are timed per cluster',
    );
  });

  test('spoofed Impersonate-* and X-Remote-* headers from the client never reach the API server', async () => {
    const seenBefore = standin.seen.length;
    const res = await raw('/k8s/prod/api/v1/namespaces/default/pods', {
      authorization: `Bearer ${token}`,
      'impersonate-uid': 'spoofed-uid',
      'impersonate-extra-scopes': 'cluster-admin',
      'impersonate-extra-gatehouse.dev%2fconnector': 'evil',
      'x-remote-user': 'system:admin',
      'x-remote-group': 'system:masters',
    });
    assert.equal(res.status, 200);
    const [seen] = standin.seen.slice(seenBefore);
    assert.deepEqual(Object.keys(seen.impersonate).sort(), [
      'impersonate-extra-gatehouse.dev%2fconnector',
      'impersonate-extra-gatehouse.dev%2fremote-addr',
      'impersonate-extra-gatehouse.dev%2froles',
      'impersonate-group',
      'impersonate-user',
    ]);
    assert.deepEqual(seen.extra['gatehouse.dev/connector'], ['corp']);
    assert.equal(seen.user, 'gatehouse:alice');
    assert.deepEqual(seen.xRemote, {});
  });

  test('kubectl --as / --as-group work only for users and groups the roles list', async (t) => {
    if (!kubectl) return t.skip('kubectl missing (reported above)');
    const seenBefore = standin.seen.length;
    const asUser = await k('--as', 'ci-deployer', 'get', 'pods', '-o', 'json');
    assert.equal(asUser.status, 0, asUser.stderr);
    assert.equal(JSON.parse(asUser.stdout).items[0].metadata.annotations.user, 'ci-deployer');
    assert.ok(standin.seen.slice(seenBefore).every((r) => r.user === 'ci-deployer' && r.groups.join() === 'system:authenticated'));

    const narrowed = await k('--as', 'gatehouse:alice', '--as-group', 'developers', 'get', 'pods', '-o', 'json');
    assert.equal(narrowed.status, 0, narrowed.stderr);
    assert.equal(JSON.parse(narrowed.stdout).items[0].metadata.annotations.groups, 'developers,system:authenticated');

    for (const args of [
      ['--as', 'system:admin'],
      ['--as', 'bob'],
      ['--as', 'gatehouse:alice', '--as-group', 'system:masters'],
    ]) {
      const seenNow = standin.seen.length;
      const { result: refused, events: denied } = await during('access.denied', () => k(...args, 'get', 'pods'));
      assert.equal(refused.status, 1, `${args.join(' ')} must be refused`);
      assert.match(refused.stderr, /may not act as/);
      assert.equal(standin.seen.length, seenNow, 'a refused impersonation never reaches the API server');
      assert.ok(denied.length >= 1);
      assert.ok(
        denied.every((e) => e.reason === 'impersonation_denied' && e.user === 'alice' && e.cluster === 'prod' && e.details!.code === 403),
        JSON.stringify(denied),
      );
    }
  });

  test('no token, an expired token, a token for another cluster: 401 with the reason, and access.denied', async () => {
    const issuer = s.gw.gateway.issuer;
    const claims = { preferred_username: 'alice', groups: ['developers'], roles: ['developer'], connector: 'corp' };
    const expired = await issuer.mint({ subject: 'alice', audience: 'gatehouse:prod', claims, ttlMs: -120_000 });
    const staging = await issuer.mint({ subject: 'alice', audience: 'gatehouse:staging', claims });
    const gatewayToken = await issuer.mint({ subject: 'alice', audience: 'gatehouse', claims });
    const cases: [Record<string, string>, string][] = [
      [{}, 'token_missing'],
      [{ authorization: `Bearer ${expired}` }, 'token_expired'],
      [{ authorization: `Bearer ${staging}` }, 'token_wrong_cluster'],
      [{ authorization: `Bearer ${gatewayToken}` }, 'token_wrong_cluster'],
      [{ authorization: 'Bearer not-a-jwt' }, 'token_invalid'],
    ];
    for (const [headers, reason] of cases) {
      const seenNow = standin.seen.length;
      const { result: res, events: denied } = await during('access.denied', () => raw('/k8s/prod/api/v1/namespaces/default/pods', headers));
      assert.equal(res.status, 401, reason);
      assert.equal(res.body.kind, 'Status');
      assert.equal(res.body.reason, 'Unauthorized');
      assert.equal((res.body.details as { causes: { reason: string }[] }).causes[0].reason, reason);
      assert.match(String(res.body.message), /^gatehouse: /);
      assert.equal(standin.seen.length, seenNow);
      assert.equal(denied.length, 1);
      assert.equal(denied[0].reason, reason);
      assert.equal(denied[0].cluster, 'prod');
      assert.equal(denied[0].code, 'GH3021W');
      assert.deepEqual([denied[0].details!.verb, denied[0].details!.resource], ['list', 'pods']);
    }
    const unknown = await raw('/k8s/nope/api', { authorization: `Bearer ${token}` });
    assert.equal(unknown.status, 404);
  });

  test('an API server that cannot be reached: 502 Status with upstream_unreachable, and a failed kube.request', async () => {
    const claims = { preferred_username: 'alice', groups: ['developers'], roles: ['developer'], connector: 'corp' };
    const downToken = await s.gw.gateway.issuer.mint({ subject: 'alice', audience: 'gatehouse:down', claims });
    const { result: res, events: requests } = await during('kube.request', () =>
      raw('/k8s/down/api/v1/namespaces/default/pods', { authorization: `Bearer ${downToken}` }),
    );
    assert.equal(res.status, 502);
    assert.equal(res.body.kind, 'Status');
    assert.equal((res.body.details as { causes: { reason: string }[] }).causes[0].reason, 'upstream_unreachable');
    assert.match(String(res.body.message), /cluster "down" cannot be reached/);
    assert.equal(requests.length, 1);
    assert.deepEqual([requests[0].outcome, requests[0].reason, requests[0].cluster], ['failure', 'upstream_unreachable', 'down']);
  });

  test('a watch streams: kubectl shows the first event before the API server sends the second', async (t) => {
    if (!kubectl) return t.skip('kubectl missing (reported above)');
    const watch = start(kubectl, ['--context', 'prod', 'get', 'pods', '--watch', '-o', 'name']);
    // Bounded by the test runner's timeout: were the proxy buffering, the first event would never show.
    while (!watch.stdout().includes('pod/first-event')) {
      if (watch.child.exitCode !== null) assert.fail(`kubectl exited early: ${(await watch.done).stderr}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.doesNotMatch(watch.stdout(), /second-event/);
    standin.releaseWatch();
    while (!watch.stdout().includes('pod/second-event')) {
      if (watch.child.exitCode !== null) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    watch.child.kill();
    await watch.done;
    assert.match(watch.stdout(), /pod\/second-event/);
    const audited = await s.gw.waitForEvent((e) => e.type === 'kube.request' && e.details?.verb === 'watch');
    assert.deepEqual([audited.details!.resource, audited.details!.namespace, audited.details!.code], ['pods', 'default', 200]);
  });

  test('kubectl logs -f streams: the first line shows before the API server sends the second', async (t) => {
    if (!kubectl) return t.skip('kubectl missing (reported above)');
    standin.resetWatch();
    const logs = start(kubectl, ['--context', 'prod', 'logs', '-f', 'whoami']);
    // Bounded by the test runner's timeout: were the proxy buffering, the first line would never show.
    while (!logs.stdout().includes('first line for gatehouse:alice')) {
      if (logs.child.exitCode !== null) assert.fail(`kubectl exited early: ${(await logs.done).stderr}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.doesNotMatch(logs.stdout(), /second line/);
    standin.releaseWatch();
    const done = await logs.done;
    assert.equal(done.status, 0, done.stderr);
    assert.equal(logs.stdout(), 'first line for gatehouse:alice\nsecond line\n');
    const audited = await s.gw.waitForEvent((e) => e.type === 'kube.request' && e.details?.subresource === 'log');
    assert.deepEqual([audited.details!.verb, audited.details!.resource, audited.details!.name, audited.details!.code], ['get', 'pods', 'whoami', 200]);
  });

  test('kubectl exec over the WebSocket v5 protocol: output passes through, session.start/end audited', async (t) => {
    if (!kubectl) return t.skip('kubectl missing (reported above)');
    const exec = await k('exec', 'web-1', '-c', 'c', '--', 'echo', 'hello');
    assert.equal(exec.status, 0, exec.stderr);
    assert.equal(exec.stdout, 'ran echo hello as gatehouse:alice\n');
    assert.match(exec.stderr, /a line on stderr/);
    const startEvent = await s.gw.waitForEvent((e) => e.type === 'session.start' && e.details?.pod === 'web-1');
    assert.equal(startEvent.user, 'alice');
    assert.equal(startEvent.cluster, 'prod');
    assert.deepEqual(
      {
        container: startEvent.details!.container,
        command: startEvent.details!.command,
        namespace: startEvent.details!.namespace,
        protocol: startEvent.details!.protocol,
      },
      { container: 'c', command: ['echo', 'hello'], namespace: 'default', protocol: 'v5.channel.k8s.io' },
    );
    const endEvent = await s.gw.waitForEvent((e) => e.type === 'session.end' && e.session_id === startEvent.session_id);
    assert.equal(endEvent.details!.exit_code, 0);
    assert.equal(endEvent.details!.bytes_out, Buffer.byteLength('ran echo hello as gatehouse:alice\na line on stderr\n'));
    // The output is recorded as asciicast v2 in the shared recording store, under the session id.
    assert.equal(startEvent.details!.recorded, true);
    const cast = readFileSync(join(home, 'recordings', `${startEvent.session_id}.cast`), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    assert.equal(cast[0].version, 2);
    assert.equal(
      cast
        .slice(1)
        .filter((e) => e[1] === 'o')
        .map((e) => e[2])
        .join(''),
      'ran echo hello as gatehouse:alice\na line on stderr\n',
    );
    const meta = JSON.parse(readFileSync(join(home, 'recordings', `${startEvent.session_id}.json`), 'utf8'));
    assert.deepEqual([meta.node, meta.login, meta.command, meta.exit_code, meta.complete], ['prod/default/web-1', 'c', 'echo hello', 0, true]);
    const asciinema = requireBinary(t, 'asciinema');
    if (asciinema) {
      const played = await run(asciinema, ['play', '-s', '100', join(home, 'recordings', `${startEvent.session_id}.cast`)]);
      assert.equal(played.status, 0, played.stderr);
      assert.match(played.stdout, /ran echo hello as gatehouse:alice/);
    }
    const request = await s.gw.waitForEvent((e) => e.type === 'kube.request' && e.details?.subresource === 'exec');
    assert.deepEqual(
      [request.details!.verb, request.details!.name, request.details!.code, request.details!.session_id],
      ['create', 'web-1', 101, startEvent.session_id],
    );
  });

  test('kubectl attach over the WebSocket v5 protocol: output passes through, recorded like exec', async (t) => {
    if (!kubectl) return t.skip('kubectl missing (reported above)');
    const attach = await k('attach', 'web-2', '-c', 'c');
    assert.equal(attach.status, 0, attach.stderr);
    assert.equal(attach.stdout, 'attached to web-2/c as gatehouse:alice\n');
    const startEvent = await s.gw.waitForEvent((e) => e.type === 'session.start' && e.details?.pod === 'web-2');
    assert.deepEqual(
      [startEvent.user, startEvent.details!.container, startEvent.details!.protocol, startEvent.details!.recorded],
      ['alice', 'c', 'v5.channel.k8s.io', true],
    );
    const endEvent = await s.gw.waitForEvent((e) => e.type === 'session.end' && e.session_id === startEvent.session_id);
    assert.equal(endEvent.details!.exit_code, 0);
    const cast = readFileSync(join(home, 'recordings', `${startEvent.session_id}.cast`), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    assert.equal(
      cast
        .slice(1)
        .filter((e) => e[1] === 'o')
        .map((e) => e[2])
        .join(''),
      'attached to web-2/c as gatehouse:alice\na line on stderr\n',
    );
    const request = await s.gw.waitForEvent((e) => e.type === 'kube.request' && e.details?.subresource === 'attach');
    assert.deepEqual(
      [request.details!.verb, request.details!.name, request.details!.code, request.details!.session_id],
      ['create', 'web-2', 101, startEvent.session_id],
    );
  });

  // Last: it revokes the shared CLI login.
  test('an open kubectl exec ends when its login is revoked (gatehouse logout), audited with ended_by', async (t) => {
    if (!kubectl) return t.skip('kubectl missing (reported above)');
    const exec = start(kubectl, ['--context', 'prod', 'exec', 'web-3', '-c', 'c', '--', 'hold']);
    await eventually(() => exec.stdout().includes('ran hold as gatehouse:alice'), { timeoutMs: 20_000, message: 'the held exec never printed' });
    const startEvent = await s.gw.waitForEvent((e) => e.type === 'session.start' && e.details?.pod === 'web-3');
    assert.equal(exec.child.exitCode, null, 'the stream is open');

    const logout = await run(process.execPath, [...CLI, 'logout', '--server', s.gw.url]);
    assert.equal(logout.status, 0, logout.stderr);
    const ended = await exec.done;
    assert.notEqual(ended.status, 0, 'kubectl saw its stream end');
    const endEvent = await s.gw.waitForEvent((e) => e.type === 'session.end' && e.session_id === startEvent.session_id);
    assert.equal(endEvent.details!.ended_by, 'token_revoked');
    const request = await s.gw.waitForEvent((e) => e.type === 'kube.request' && e.details?.session_id === startEvent.session_id);
    assert.equal(request.details!.ended_by, 'token_revoked');
  });
});
