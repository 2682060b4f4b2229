import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { lstatSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { after, test } from 'node:test';
import { requireBinary } from '../helpers/peers/services.js';

// `gatehouse kube login` as a person runs it: the real CLI, a symlinked kubeconfig among several
// in $KUBECONFIG, then the real kubectl reading the result. The login state is written by hand
// (kube login only reads it); test/e2e/kubectl.test.ts covers the whole flow against a gateway.
const CLI = ['--import', 'tsx', join(process.cwd(), 'src/cli/main.ts')];
const SERVER = 'https://gatehouse.example:8443';
const dir = mkdtempSync(join(tmpdir(), 'gh-kube-login-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('kube login writes through a symlinked $KUBECONFIG file, keeps the others, and kubectl uses the context', (t) => {
  const kubectl = requireBinary(t, 'kubectl');
  if (!kubectl) return;
  const home = join(dir, 'gatehouse');
  mkdirSync(join(home, 'servers'), { recursive: true });
  const cluster = { name: 'prod', audience: 'gatehouse:prod', mode: 'proxy', api_server: `${SERVER}/k8s/prod`, ca_data: 'Q0E=' };
  writeFileSync(
    join(home, 'servers', 'gatehouse.example_8443.json'),
    JSON.stringify({ server: SERVER, refresh_token: 'gatehouse_rt_x', clusters: { prod: cluster } }),
  );
  mkdirSync(join(dir, 'dotfiles'));
  const target = join(dir, 'dotfiles', 'work.yaml');
  const work =
    '# work clusters\napiVersion: v1\nkind: Config\ncontexts:\n# re-login updates this one\n- context:\n    cluster: prod\n    user: someone\n  name: prod\n';
  writeFileSync(target, work);
  const link = join(dir, 'work-link');
  symlinkSync(target, link);
  const personal = join(dir, 'personal');
  const personalText = 'apiVersion: v1\nkind: Config\nclusters:\n- cluster:\n    server: https://home.example\n  name: home\ncurrent-context: home\n';
  writeFileSync(personal, personalText);
  const env = { ...process.env, GATEHOUSE_HOME: home, KUBECONFIG: [personal, link].join(delimiter) };

  const login = spawnSync(process.execPath, [...CLI, 'kube', 'login', 'prod', '--server', SERVER, '--exec-command', 'gatehouse'], { encoding: 'utf8', env });
  assert.equal(login.status, 0, login.stderr);
  assert.equal(login.stdout, `Context "prod" written to ${link}. Try: kubectl --context prod get pods\n`);
  assert.ok(lstatSync(link).isSymbolicLink());
  assert.equal(readFileSync(personal, 'utf8'), personalText, 'the file without the context is untouched');
  const written = readFileSync(target, 'utf8');
  assert.ok(
    written.startsWith(
      '# work clusters\napiVersion: v1\nkind: Config\ncontexts:\n# re-login updates this one\n- name: prod\n  context:\n    cluster: prod\n    user: gatehouse-prod\n',
    ),
    written,
  );

  const contexts = spawnSync(kubectl, ['config', 'get-contexts'], { encoding: 'utf8', env });
  assert.equal(contexts.status, 0, contexts.stderr);
  assert.match(contexts.stdout, /^\s+prod\s+prod\s+gatehouse-prod\s*$/m);
  const view = spawnSync(kubectl, ['config', 'view', '--kubeconfig', link, '-o', 'json'], { encoding: 'utf8', env });
  assert.equal(view.status, 0, view.stderr);
  const config = JSON.parse(view.stdout);
  assert.equal(config.clusters[0].cluster.server, `${SERVER}/k8s/prod`);
  assert.deepEqual(config.users[0].user.exec.args, ['kube', 'credentials', '--cluster', 'prod', '--server', SERVER]);
  assert.equal(config.users[0].user.exec.interactiveMode, 'IfAvailable');

  // --kubeconfig overrides $KUBECONFIG.
  const only = join(dir, 'only');
  const explicit = spawnSync(process.execPath, [...CLI, 'kube', 'login', 'prod', '--server', SERVER, '--kubeconfig', only], { encoding: 'utf8', env });
  assert.equal(explicit.status, 0, explicit.stderr);
  assert.match(readFileSync(only, 'utf8'), /current-context: prod/);
  assert.equal(readFileSync(target, 'utf8'), written);
});
