// `gatehouse kube apiserver-config|rbac|webhook-config` without a config file: the real CLI, run
// where no config/gatehouse.yaml exists, asks a real gateway with the stored login
// (GATEHOUSE_HOME) and must print exactly what it prints from the same config file.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { startGateway, type TestGateway } from '../helpers/gateways/gateway.js';
import { closedPort } from '../helpers/peers/services.js';
import { runChild } from '../helpers/processes.js';

const REPO = fileURLToPath(new URL('../..', import.meta.url));
// Absolute, because the CLI runs in a directory without node_modules or a config/ folder.
const CLI = ['--import', import.meta.resolve('tsx'), join(REPO, 'src/cli/main.ts')];
const TOKENREVIEW_SECRET = 'tokenreview-secret-0123456789'; // secret-scan: allow

const gatewayConfig = {
  connectors: [{ type: 'demo', id: 'demo', users: [{ username: 'olga', password: 'unused-pw', email: 'olga@example.com', groups: ['ops'] }] }], // secret-scan: allow
  roles: [
    { name: 'operator', cluster_artefacts: true, kubernetes_groups: ['ops'], kubernetes_rbac: { cluster_role: 'cluster-admin' } },
    { name: 'dev', kubernetes_groups: ['devs', '{{external.groups}}'], kubernetes_rbac: { cluster_role: 'edit', namespaces: ['dev', 'staging'] } },
  ],
  mappings: [
    { match: { claim: 'groups', value: 'ops' }, roles: ['operator'] },
    { match: { claim: 'groups', value: 'devs' }, roles: ['dev'] },
  ],
  clusters: [
    { name: 'prod', audience: 'gatehouse:prod', api_server: 'https://prod.k8s.example:6443' },
    { name: 'stage', audience: 'gatehouse:stage', api_server: 'https://stage.k8s.example:6443' },
  ],
  tokenreview: { bearer_token: TOKENREVIEW_SECRET },
};

let gw: TestGateway;
let dir: string;
let configFile: string;

before(async () => {
  const port = await closedPort();
  gw = await startGateway(gatewayConfig, { port });
  dir = mkdtempSync(join(tmpdir(), 'gh-kube-artefacts-'));
  // The same config as the gateway's, as an operator's file.
  configFile = join(dir, 'gatehouse.yaml');
  writeFileSync(
    configFile,
    stringify({ server: { public_url: gw.url, listen: `127.0.0.1:${port}` }, state: { data_dir: join(dir, 'data') }, ...gatewayConfig }),
  );
});
after(async () => {
  await gw?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const mint = (username: string, groups: string[]) =>
  gw.gateway.issuer.mint({ subject: `demo:${username}`, audience: 'gatehouse', claims: { preferred_username: username, groups, connector: 'demo' } });

/** A GATEHOUSE_HOME as `gatehouse login` leaves it: the default gateway and a fresh access token. */
function loginHome(name: string, token: string): string {
  const home = join(dir, name);
  mkdirSync(join(home, 'servers'), { recursive: true });
  writeFileSync(join(home, 'default-server'), JSON.stringify({ server: gw.url }));
  const file = `${new URL(gw.url).host.replace(/[^A-Za-z0-9.-]/g, '_')}.json`;
  writeFileSync(join(home, 'servers', file), JSON.stringify({ server: gw.url, access_token: token, access_expires_at: Date.now() + 3_600_000 }));
  return home;
}

/** The CLI in an empty directory (no config/gatehouse.yaml), with only the environment given. */
function cli(args: string[], env: Record<string, string>) {
  const cwd = mkdtempSync(join(dir, 'cwd-'));
  const { GATEHOUSE_CONFIG: _config, GATEHOUSE_SERVER: _server, GATEHOUSE_TOKEN: _token, ...base } = process.env;
  return runChild(process.execPath, [...CLI, ...args], { cwd, env: { ...base, ...env } });
}

const COMMANDS = [['apiserver-config', '--cluster', 'stage'], ['rbac'], ['webhook-config']];

test('a role with cluster_artefacts gets, from the gateway, the bytes the config file renders', async () => {
  const home = loginHome('olga', await mint('olga', ['ops']));
  for (const args of COMMANDS) {
    const local = await cli(['kube', ...args, '--config', configFile], { GATEHOUSE_HOME: join(dir, 'nobody') });
    assert.equal(local.code, 0, local.stderr);
    const remote = await cli(['kube', ...args], { GATEHOUSE_HOME: home });
    assert.equal(remote.code, 0, remote.stderr);
    if (args[0] === 'webhook-config') {
      // The TokenReview bearer token is a secret: the gateway sends the placeholder instead.
      assert.ok(local.stdout.includes(TOKENREVIEW_SECRET));
      assert.ok(!remote.stdout.includes(TOKENREVIEW_SECRET), remote.stdout);
      assert.equal(remote.stdout, local.stdout.replace(TOKENREVIEW_SECRET, '${TOKENREVIEW_TOKEN}'));
    } else {
      assert.equal(remote.stdout, local.stdout, `${args[0]}: the gateway's render differs from the local one`);
    }
  }
  const rbac = await cli(['kube', 'rbac'], { GATEHOUSE_HOME: home });
  assert.match(rbac.stdout, /kind: ClusterRoleBinding\nmetadata:\n {2}name: gatehouse:operator:ops\n/);
  assert.match(rbac.stdout, /name: gatehouse:dev:devs\n {2}namespace: staging\n/);
  assert.ok(!rbac.stdout.includes('{{'), 'templated groups are not bound');
  const apiserver = await cli(['kube', 'apiserver-config', '--cluster', 'stage'], { GATEHOUSE_HOME: home });
  assert.match(apiserver.stdout, /--oidc-client-id=gatehouse:stage/);
  assert.ok(apiserver.stdout.includes(`--oidc-issuer-url=${gw.url}\n`));

  // An unknown cluster: the gateway's code and the names the operator may pick from.
  const unknown = await cli(['kube', 'apiserver-config', '--cluster', 'nope'], { GATEHOUSE_HOME: home });
  assert.equal(unknown.code, 1);
  assert.match(unknown.stderr, /one of: prod, stage.*unknown_cluster/);
});

test('a role without cluster_artefacts is refused with 403 cluster_artefacts_forbidden, audited', async () => {
  const token = await mint('dave', ['devs']);
  const res = await fetch(`${gw.url}/api/v1/kube/artefacts/rbac`, { headers: { authorization: `Bearer ${token}` } });
  assert.equal(res.status, 403);
  assert.equal(((await res.json()) as { error: string }).error, 'cluster_artefacts_forbidden');
  await gw.waitForEvent((e) => e.type === 'access.denied' && e.user === 'dave' && e.reason === 'cluster_artefacts_forbidden');

  const run = await cli(['kube', 'webhook-config'], { GATEHOUSE_HOME: loginHome('dave', token) });
  assert.equal(run.code, 1);
  assert.equal(run.stdout, '');
  assert.match(run.stderr, /^gatehouse: dave has no role with cluster_artefacts: true\. \(cluster_artefacts_forbidden\)\n$/);
  const event = await gw.waitForEvent((e) => e.type === 'access.denied' && e.user === 'dave' && (e.details as { kind?: string })?.kind === 'webhook-config');
  assert.equal(event.outcome, 'failure');
  assert.deepEqual(event.roles, ['dev']);
  assert.equal((event.details as { resource?: string }).resource, 'cluster-artefacts');

  // No token at all: 401, never the artefacts.
  assert.equal((await fetch(`${gw.url}/api/v1/kube/artefacts/rbac`)).status, 401);
});

test('without a config file or a login, the CLI says what to do', async () => {
  const nowhere = await cli(['kube', 'rbac'], { GATEHOUSE_HOME: join(dir, 'empty-home') });
  assert.equal(nowhere.code, 1);
  assert.match(nowhere.stderr, /^gatehouse: No config\/gatehouse\.yaml here: pass --config FILE, or sign in with `gatehouse login --server URL`/);

  const signedOut = await cli(['kube', 'apiserver-config', '--cluster', 'prod', '--server', gw.url], { GATEHOUSE_HOME: join(dir, 'empty-home') });
  assert.equal(signedOut.code, 1);
  assert.equal(signedOut.stderr, `gatehouse: Not signed in to ${gw.url}: run \`gatehouse login --server ${gw.url}\`.\n`);
  assert.equal(signedOut.stdout, '');
});
