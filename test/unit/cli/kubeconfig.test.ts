import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { after, test, type TestContext } from 'node:test';
import { parse } from 'yaml';
import { kubeconfigFiles, mergeIntoKubeconfig, mergeKubeconfigText, type KubeconfigEntry } from '../../../src/cli/kubeconfig.js';
import { GatehouseError } from '../../../src/core/errors.js';
import { requireBinary } from '../../helpers/peers/services.js';

const dir = mkdtempSync(join(tmpdir(), 'gh-kubeconfig-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const entries = (server = 'https://gatehouse.example/k8s/prod'): KubeconfigEntry[] => [
  { list: 'clusters', name: 'prod', value: { cluster: { server, 'certificate-authority-data': 'Q0E=' } } },
  {
    list: 'users',
    name: 'gatehouse-prod',
    value: { user: { exec: { apiVersion: 'client.authentication.k8s.io/v1', command: 'gatehouse', args: ['kube', 'credentials'] } } },
  },
  { list: 'contexts', name: 'prod', value: { context: { cluster: 'prod', user: 'gatehouse-prod' } } },
];

// As kubectl writes it, with a person's comments added.
const COMMENTED = `# Work clusters. Managed by hand; keep the comments!
apiVersion: v1
clusters:
# staging, through the VPN
- cluster:
    certificate-authority-data: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUJkekNDQVIyZ0F3SUJBZ0lCQURBS0JnZ3Foa2pPUFFRREFqQWpNU0V3SHdZRFZRUUREQmhyTTNNdApjMlZ5ZG1WeUxXTmhRREUzTURBd01EQXdNREF3SGhjTk1qUXdNVEF4TURBd01EQXdXaGNOTXpRd01UQXhNREF3Ck1EQXdXakFqTVNFd0h3WURWUVFEREJock0zTXRjMlZ5ZG1WeUxXTmhRREUzTURBd01EQXdNREF3V1RBVEJnY3EK
    server: https://staging.example:6443 # the VPN name
  name: staging
- cluster:
    server: "https://other.example"
    insecure-skip-tls-verify: true
  name: other

contexts:
- context:
    cluster: staging
    namespace: 'team a'
    user: staging-admin
  name: staging
current-context: staging
kind: Config
preferences: {}
users:
# a static token; rotate monthly
- name: staging-admin
  user:
    token: abc123
`;

const kubectlEnv = (extra: Record<string, string> = {}) => ({ PATH: process.env.PATH, HOME: dir, ...extra });
function kubectl(t: TestContext, args: string[], env: Record<string, string> = {}): string | undefined {
  const binary = requireBinary(t, 'kubectl');
  if (!binary) return undefined;
  const run = spawnSync(binary, args, { encoding: 'utf8', env: kubectlEnv(env), timeout: 30_000 });
  assert.equal(run.status, 0, run.stderr);
  return run.stdout;
}

test('a commented kubeconfig keeps its comments and every untouched line; only the new entries are added', (t) => {
  const file = join(dir, 'commented');
  writeFileSync(file, COMMENTED, { mode: 0o640 });
  chmodSync(file, 0o640);
  assert.deepEqual(mergeIntoKubeconfig([file], entries(), 'prod'), [file]);
  const text = readFileSync(file, 'utf8');
  const expected = COMMENTED.replace(
    '  name: other\n',
    '  name: other\n- name: prod\n  cluster:\n    server: https://gatehouse.example/k8s/prod\n    certificate-authority-data: Q0E=\n',
  )
    .replace('  name: staging\ncurrent-context', '  name: staging\n- name: prod\n  context:\n    cluster: prod\n    user: gatehouse-prod\ncurrent-context')
    .replace(
      '    token: abc123\n',
      '    token: abc123\n- name: gatehouse-prod\n  user:\n    exec:\n      apiVersion: client.authentication.k8s.io/v1\n      command: gatehouse\n      args:\n      - kube\n      - credentials\n',
    );
  assert.equal(text, expected, 'everything but the three new entries is byte-for-byte what it was');
  assert.equal(parse(text)['current-context'], 'staging', 'an existing current-context stays');
  assert.equal(statSync(file).mode & 0o777, 0o640, 'the file keeps its mode');

  const view = kubectl(t, ['config', 'view', '--kubeconfig', file, '-o', 'json']);
  if (view === undefined) return;
  const config = JSON.parse(view);
  assert.deepEqual(config.contexts.map((c: { name: string }) => c.name).sort(), ['prod', 'staging']);
  assert.deepEqual(config.clusters.map((c: { name: string }) => c.name).sort(), ['other', 'prod', 'staging']);
  assert.equal(config.users.find((u: { name: string }) => u.name === 'gatehouse-prod').user.exec.command, 'gatehouse');
  assert.equal(kubectl(t, ['config', 'get-contexts', '--kubeconfig', file, '-o', 'name'])!.split('\n').filter(Boolean).sort().join(','), 'prod,staging');
});

test('logging in again replaces only the named entries, keeping their neighbours and comments', () => {
  const once = mergeKubeconfigText(COMMENTED, entries('https://old.example'), 'prod');
  const twice = mergeKubeconfigText(once, entries('https://new.example'), 'prod');
  assert.equal(twice, once.replace('https://old.example', 'https://new.example'));
  const config = parse(twice);
  assert.equal(config.clusters.filter((c: { name: string }) => c.name === 'prod').length, 1, 'no duplicate entry');
});

test('a new kubeconfig is YAML, 0600, with current-context set; a JSON one becomes YAML with its entries', (t) => {
  const file = join(dir, 'new', 'config');
  mergeIntoKubeconfig([file], entries(), 'prod');
  assert.equal(statSync(file).mode & 0o777, 0o600);
  const text = readFileSync(file, 'utf8');
  assert.match(text, /^apiVersion: v1\nkind: Config\nclusters:\n- name: prod\n/);
  assert.equal(parse(text)['current-context'], 'prod');

  const json = join(dir, 'json');
  writeFileSync(
    json,
    JSON.stringify({ apiVersion: 'v1', kind: 'Config', clusters: [{ name: 'other', cluster: { server: 'https://other.example' } }] }, null, 2),
  );
  mergeIntoKubeconfig([json], entries(), 'prod');
  assert.doesNotMatch(readFileSync(json, 'utf8'), /[{"]/, 'block YAML, not JSON');
  const view = kubectl(t, ['config', 'view', '--kubeconfig', json, '-o', 'json']);
  if (view !== undefined)
    assert.deepEqual(
      JSON.parse(view)
        .clusters.map((c: { name: string }) => c.name)
        .sort(),
      ['other', 'prod'],
    );
});

test('a symlinked kubeconfig stays a symlink; its target is updated in place, keeping its mode', (t) => {
  const dotfiles = join(dir, 'dotfiles');
  mkdirSync(dotfiles);
  const target = join(dotfiles, 'kubeconfig');
  writeFileSync(target, COMMENTED);
  chmodSync(target, 0o600);
  const link = join(dir, 'link-config');
  symlinkSync('dotfiles/kubeconfig', link);
  mergeIntoKubeconfig([link], entries(), 'prod');
  assert.ok(lstatSync(link).isSymbolicLink(), 'still a symlink');
  assert.equal(readlinkSync(link), 'dotfiles/kubeconfig', 'pointing where it pointed');
  assert.equal(statSync(target).mode & 0o777, 0o600);
  assert.ok(
    parse(readFileSync(target, 'utf8')).contexts.some((c: { name: string }) => c.name === 'prod'),
    'the target has the context',
  );

  const dangling = join(dir, 'dangling-config');
  symlinkSync('dotfiles/not-yet', dangling);
  mergeIntoKubeconfig([dangling], entries(), 'prod');
  assert.ok(lstatSync(dangling).isSymbolicLink(), 'a dangling link gets its target created');
  assert.equal(statSync(join(dotfiles, 'not-yet')).mode & 0o777, 0o600);
  const contexts = kubectl(t, ['config', 'get-contexts', '-o', 'name'], { KUBECONFIG: link });
  if (contexts !== undefined) assert.deepEqual(contexts.split('\n').filter(Boolean).sort(), ['prod', 'staging']);
});

test('KUBECONFIG=a:b: the file holding the context gets it, else the first; kubectl sees the merged view', (t) => {
  const a = join(dir, 'a');
  const b = join(dir, 'b');
  const kubeconfig = [a, b].join(delimiter);
  writeFileSync(a, 'apiVersion: v1\nkind: Config\nclusters:\n- cluster:\n    server: https://a.example\n  name: a\n');
  writeFileSync(b, 'apiVersion: v1\nkind: Config\ncontexts:\n- context:\n    cluster: prod\n    user: old\n  name: prod\n');
  const before = readFileSync(a, 'utf8');
  assert.deepEqual(mergeIntoKubeconfig(kubeconfigFiles(undefined, kubeconfig), entries(), 'prod'), [b]);
  assert.equal(readFileSync(a, 'utf8'), before, 'a is untouched');
  const inB = parse(readFileSync(b, 'utf8'));
  assert.deepEqual(
    inB.contexts.map((c: { name: string; context: { user: string } }) => [c.name, c.context.user]),
    [['prod', 'gatehouse-prod']],
  );
  assert.equal(inB['current-context'], 'prod', 'no file set one, so the context file does');
  const view = kubectl(t, ['config', 'view', '-o', 'json'], { KUBECONFIG: kubeconfig });
  if (view === undefined) return;
  const merged = JSON.parse(view);
  assert.equal(merged['current-context'], 'prod');
  assert.deepEqual(merged.clusters.map((c: { name: string }) => c.name).sort(), ['a', 'prod']);
  assert.equal(merged.users[0].name, 'gatehouse-prod');
  assert.match(kubectl(t, ['config', 'get-contexts'], { KUBECONFIG: kubeconfig })!, /^\*\s+prod\s+prod\s+gatehouse-prod/m);

  // Neither holds the context: it goes to the first file.
  writeFileSync(b, 'apiVersion: v1\nkind: Config\ncurrent-context: elsewhere\n');
  const bBefore = readFileSync(b, 'utf8');
  assert.deepEqual(mergeIntoKubeconfig(kubeconfigFiles(undefined, kubeconfig), entries(), 'prod'), [a]);
  assert.equal(readFileSync(b, 'utf8'), bBefore, 'b is untouched');
  assert.equal(parse(readFileSync(a, 'utf8'))['current-context'], undefined, 'b already sets current-context');
  const names = kubectl(t, ['config', 'get-contexts', '-o', 'name'], { KUBECONFIG: kubeconfig });
  if (names !== undefined) assert.deepEqual(names.split('\n').filter(Boolean), ['prod']);
});

test('which files: --kubeconfig alone, else $KUBECONFIG without empty or repeated entries, else ~/.kube/config', () => {
  assert.deepEqual(kubeconfigFiles('/x', ['/a', '/b'].join(delimiter)), ['/x']);
  assert.deepEqual(kubeconfigFiles(undefined, ['/a', '', '/b', '/a'].join(delimiter)), ['/a', '/b']);
  assert.match(kubeconfigFiles(undefined, '')[0], /\.kube[/\\]config$/);
});

test('a file that is not a kubeconfig is refused with kubeconfig_invalid and left alone', () => {
  for (const text of ['clusters: [unclosed\n', '- just\n- a list\n', 'clusters: a string\n']) {
    const file = join(dir, 'bad');
    writeFileSync(file, text);
    assert.throws(
      () => mergeIntoKubeconfig([file], entries(), 'prod'),
      (err) => err instanceof GatehouseError && err.code === 'kubeconfig_invalid' && err.message.includes(file),
    );
    assert.equal(readFileSync(file, 'utf8'), text);
  }
});
