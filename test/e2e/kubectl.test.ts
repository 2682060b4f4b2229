import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parse as parseYaml } from 'yaml';
import { startApiserverStandin } from '../helpers/peers/apiserver-standin.js';
import { Browser } from '../helpers/browsers/browser.js';
import { BrowserCommand } from '../helpers/browsers/browser-command.js';
import { requireBinary } from '../helpers/peers/services.js';
import { alice, kubePolicy, startSso, type SsoSetup } from '../helpers/gateways/sso.js';
import { makeTls } from '../helpers/peers/tls.js';
import { startRun } from '../helpers/processes.js';
import { logIn } from '../helpers/browsers/sign-in.js';

const CLI = ['--import', 'tsx', join(process.cwd(), 'src/cli/main.ts')];

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

describe('kubectl through gatehouse login and the exec credential plugin', () => {
  let s: SsoSetup;
  let standin: Awaited<ReturnType<typeof startApiserverStandin>>;
  let home: string;
  let browser: Browser;
  let browserCommand: BrowserCommand;
  const env = () => ({ ...process.env, GATEHOUSE_HOME: home, GATEHOUSE_BROWSER: browserCommand.path, KUBECONFIG: join(home, 'kubeconfig') });

  /** Runs a command; `onStderr` can act on what it prints (URLs, device codes) while it runs. */
  const run = (command: string, args: string[], onStderr?: (text: string) => void, extraEnv: Record<string, string> = {}): Promise<Run> => {
    const started = startRun(command, args, { env: { ...env(), ...extraEnv } });
    if (onStderr) started.child.stderr!.on('data', () => onStderr(started.stderr()));
    return started.done.then((r) => ({ status: r.code, stdout: r.stdout, stderr: r.stderr }));
  };
  const cli = (args: string[], onStderr?: (text: string) => void, extraEnv: Record<string, string> = {}) =>
    run(process.execPath, [...CLI, ...args], onStderr, extraEnv);

  before(async () => {
    const tls = makeTls();
    let issuer = '';
    standin = await startApiserverStandin({ tls, issuer: () => issuer, clientId: 'gatehouse:prod', usernamePrefix: 'gatehouse:' });
    s = await startSso({ ...kubePolicy, clusters: [{ name: 'prod', audience: 'gatehouse:prod', api_server: standin.url, ca_file: tls.caFile }] });
    issuer = s.gw.url;
    home = mkdtempSync(join(tmpdir(), 'gh-cli-'));
    browserCommand = new BrowserCommand(home);
    browser = new Browser();
    await logIn(browser, s.gw, 'Corp SSO', alice);
  });
  after(async () => {
    await s.stop();
    await standin.close();
  });

  /** The loopback flow end to end: the CLI opens the "browser", the test follows the URL with a signed-in session. */
  const loginThroughBrowser = async () => {
    const login = cli(['login', '--server', s.gw.url]);
    const authorize = await browser.request(await browserCommand.next());
    assert.equal(authorize.status, 302, authorize.body);
    await browser.request(authorize.location!); // the CLI's loopback listener
    return login;
  };

  test('gatehouse login (loopback flow) stores tokens 0600 under GATEHOUSE_HOME', async () => {
    const run = await loginThroughBrowser();
    assert.equal(run.status, 0, run.stderr);
    assert.match(run.stdout, /Signed in to .* as alice \(roles: admin, developer\)/);
    const state = join(home, 'servers', `${new URL(s.gw.url).host.replace(':', '_')}.json`);
    assert.equal(statSync(state).mode & 0o777, 0o600);
    assert.equal(statSync(home).mode & 0o777, 0o700);
    const status = await cli(['status', '--server', s.gw.url]);
    assert.equal(status.status, 0, status.stderr);
    assert.match(status.stdout, /kubernetes groups: developers, platform-admins/);
  });

  test('gatehouse kube login writes a kubeconfig and real kubectl gets pods as the mapped user', async (t) => {
    const kubectl = requireBinary(t, 'kubectl');
    if (!kubectl) return;
    writeFileSync(join(home, 'kubeconfig'), 'apiVersion: v1\nkind: Config\nclusters:\n- name: other\n  cluster: {server: "https://other.example"}\n');
    const login = await cli(['kube', 'login', 'prod', '--server', s.gw.url, '--kubeconfig', join(home, 'kubeconfig')]);
    assert.equal(login.status, 0, login.stderr);
    const kubeconfig = parseYaml(readFileSync(join(home, 'kubeconfig'), 'utf8'));
    assert.deepEqual(kubeconfig.clusters.map((c: { name: string }) => c.name).sort(), ['other', 'prod'], 'other entries untouched');
    assert.equal(kubeconfig.users[0].user.exec.interactiveMode, 'IfAvailable');

    // Asynchronously: the gateway runs in this process and must keep answering the exec plugin.
    const get = await run(kubectl, ['--kubeconfig', join(home, 'kubeconfig'), '--context', 'prod', 'get', 'pods', '-o', 'json']);
    assert.equal(get.status, 0, get.stderr);
    const pod = JSON.parse(get.stdout).items[0];
    assert.equal(pod.metadata.annotations.user, 'gatehouse:alice');
    assert.equal(pod.metadata.annotations.groups, 'developers,platform-admins');
    assert.ok(standin.seen.every((u) => u.username === 'gatehouse:alice'));
  });

  test('20 parallel credential requests with an expired token: one refresh, 20 valid credentials', async () => {
    const statePath = join(home, 'servers', `${new URL(s.gw.url).host.replace(':', '_')}.json`);
    const state = JSON.parse(readFileSync(statePath, 'utf8'));
    state.kube = { prod: { token: 'expired', expires_at: 0 } };
    writeFileSync(statePath, JSON.stringify(state), { mode: 0o600 });
    const refreshesBefore = s.gw.auditEvents().filter((e) => e.type === 'token.refreshed' && e.outcome === 'success').length;
    const execInfo = JSON.stringify({ apiVersion: 'client.authentication.k8s.io/v1', kind: 'ExecCredential', spec: { interactive: false } });
    const runs = await Promise.all(
      Array.from({ length: 20 }, () => cli(['kube', 'credentials', '--cluster', 'prod', '--server', s.gw.url], undefined, { KUBERNETES_EXEC_INFO: execInfo })),
    );
    for (const run of runs) assert.equal(run.status, 0, run.stderr);
    const credentials = runs.map((r) => JSON.parse(r.stdout) as { apiVersion: string; status: { token: string; expirationTimestamp: string } });
    assert.ok(
      credentials.every((c) => c.apiVersion === 'client.authentication.k8s.io/v1'),
      'answers in the apiVersion asked for',
    );
    assert.equal(new Set(credentials.map((c) => c.status.token)).size, 1, 'all share the one refreshed token');
    assert.ok(Date.parse(credentials[0].status.expirationTimestamp) > Date.now());
    const refreshes = s.gw.auditEvents().filter((e) => e.type === 'token.refreshed' && e.outcome === 'success').length - refreshesBefore;
    assert.equal(refreshes, 1, 'exactly one refresh');
  });

  test('without a login and without a terminal, credentials fail with "run gatehouse login" and open no browser', async () => {
    const empty = mkdtempSync(join(tmpdir(), 'gh-cli-empty-'));
    const before = browserCommand.opened().length;
    const runs = await Promise.all(
      Array.from({ length: 5 }, () =>
        cli(['kube', 'credentials', '--cluster', 'prod', '--server', s.gw.url], undefined, {
          GATEHOUSE_HOME: empty,
          KUBERNETES_EXEC_INFO: JSON.stringify({ apiVersion: 'client.authentication.k8s.io/v1beta1', spec: { interactive: false } }),
        }),
      ),
    );
    for (const run of runs) {
      assert.equal(run.status, 1);
      assert.match(run.stderr, /run `gatehouse login/);
    }
    assert.equal(browserCommand.opened().length, before, 'no browser tab was opened');
  });

  test('device flow end to end: the CLI prints a code, a signed-in person approves it', async () => {
    const deviceHome = mkdtempSync(join(tmpdir(), 'gh-cli-device-'));
    let approved = false;
    const run = await cli(
      ['login', '--server', s.gw.url, '--device'],
      (text) => {
        const code = /\n\s+([A-Z]{4}-[A-Z]{4})\n/.exec(text)?.[1];
        if (!code || approved) return;
        approved = true;
        void (async () => {
          const entry = await browser.request(`${s.gw.url}/device?user_code=${code}`);
          const csrf = /name="csrf" value="([^"]+)"/.exec(entry.body)![1];
          await browser.request(`${s.gw.url}/device`, { form: { user_code: code, csrf } });
          await browser.request(`${s.gw.url}/device/decide`, { form: { user_code: code, csrf, decision: 'approve' } });
        })();
      },
      { GATEHOUSE_HOME: deviceHome },
    );
    assert.equal(run.status, 0, run.stderr);
    assert.match(run.stdout, /as alice/);
  });

  test('gatehouse logout revokes the login at the gateway', async () => {
    const out = await cli(['logout', '--server', s.gw.url]);
    assert.equal(out.status, 0, out.stderr);
    assert.ok(s.gw.auditEvents().some((e) => e.type === 'token.revoked' && e.user === 'alice'));
    const status = await cli(['status', '--server', s.gw.url]);
    assert.equal(status.status, 1);
    assert.match(status.stderr, /Not signed in/);
  });
});
