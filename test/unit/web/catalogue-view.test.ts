// The catalogue's commands match what the CLI sets up: the `ssh -J` line names the jump host and
// the node alias of the ssh config `gatehouse ssh cert` writes, `gatehouse ssh` takes the bare
// node name, a database has `gatehouse db login` and a `gatehouse db connect` line per db user,
// and every command has a copy button holding exactly its text. Sections appear only
// when they have something in them; an empty catalogue says whom to ask.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { DEFAULT_HOST_SUFFIX, nodeOfAlias, sshConfigSnippet } from '../../../src/cli/ssh-config.js';
import { connectCommands } from '../../../src/access/databases.js';
import type { RecordingMeta } from '../../../src/recording/recorder.js';
import {
  catalogueSections,
  dbLoginLine,
  gatehouseSshLine,
  kubeLoginLine,
  sshJumpLine,
  SSH_HOST_SUFFIX,
  SSH_JUMP_HOST,
  type CatalogueView,
} from '../../../src/web/views/catalogue.js';

const empty: CatalogueView = { server: 'https://gw.example', roles: ['viewer'], apps: [], nodes: [], clusters: [], databases: [], recordings: [] };
const ordersPg: CatalogueView['databases'][number] = {
  name: 'orders-pg',
  protocol: 'postgres',
  labels: { env: 'prod' },
  users: ['alice', 'app_*', 'postgres'],
  names: ['*'],
  connect: connectCommands('orders-pg', ['alice', 'app_*', 'postgres']),
};
const copyable = (out: string, line: string) => out.includes(`<code>${line}</code><button type="button" class="copy" data-copy="${line}"`);
const recording: RecordingMeta = {
  id: '7d0c7d2e-7c1c-4e4c-9b1e-0d7e3f1f2a11',
  user: 'alice',
  login: 'root',
  node: 'web-1',
  kind: 'shell',
  start: '2026-01-31T17:05:09.123Z',
  end: '2026-01-31T17:06:00.000Z',
  cols: 80,
  rows: 24,
  bytes: 10,
};

describe('catalogue commands', () => {
  test('ssh -J uses the jump host and node aliases of the generated ssh config', () => {
    const snippet = sshConfigSnippet({
      key: 'k',
      cert: 'c',
      knownHosts: 'kh',
      path: 'p',
      proxy: '127.0.0.1:3022',
      nodes: ['web-1'],
      suffix: DEFAULT_HOST_SUFFIX,
    });
    assert.equal(SSH_HOST_SUFFIX, DEFAULT_HOST_SUFFIX);
    assert.ok(snippet.split('\n').includes(`Host ${SSH_JUMP_HOST}`), 'the jump host is defined');
    const line = sshJumpLine('root', 'web-1');
    assert.equal(line, 'ssh -J gatehouse-proxy root@web-1.gatehouse');
    const alias = line.split('@')[1];
    assert.ok(snippet.split('\n').includes(`Host ${alias}`), 'the node alias is defined');
    assert.equal(nodeOfAlias(alias, DEFAULT_HOST_SUFFIX), 'web-1');
    assert.equal(gatehouseSshLine('root', 'web-1'), 'gatehouse ssh root@web-1');
    assert.equal(kubeLoginLine('prod'), 'gatehouse kube login prod');
    assert.equal(dbLoginLine('orders-pg'), 'gatehouse db login orders-pg');
  });
});

describe('catalogueSections', () => {
  test('nothing granted: a note naming the roles and what to ask for, no sections', () => {
    const out = catalogueSections(empty).value;
    assert.match(out, /id="catalogue-empty"/);
    assert.match(out, /Your roles \(viewer\) grant no apps, SSH logins, Kubernetes clusters or databases/);
    assert.match(catalogueSections({ ...empty, roles: [] }).value, /Your roles \(none\)/);
    for (const id of ['apps', 'ssh-nodes', 'clusters', 'databases', 'my-recordings']) assert.doesNotMatch(out, new RegExp(`id="${id}"`));
  });

  test('only the sections with something in them', () => {
    const apps = catalogueSections({ ...empty, apps: [{ name: 'wiki', url: 'https://wiki.apps.example/' }] }).value;
    assert.match(apps, /id="apps"/);
    assert.match(apps, /<a class="button open" href="https:\/\/wiki.apps.example\/">Open<\/a>/);
    for (const id of ['ssh-nodes', 'clusters', 'databases', 'my-recordings', 'catalogue-empty']) assert.doesNotMatch(apps, new RegExp(`id="${id}"`));
    const forwardAuth = catalogueSections({ ...empty, apps: [{ name: 'legacy' }] }).value;
    assert.doesNotMatch(forwardAuth, /Open<\/a>/, 'no address to open for a forward-auth app');

    const clusters = catalogueSections({ ...empty, clusters: [{ name: 'prod' }] }).value;
    assert.match(clusters, /id="clusters"/);
    assert.match(clusters, /data-copy="gatehouse login --server https:\/\/gw.example"/, 'the one-time login, when no node section shows it');
    assert.match(clusters, /data-copy="gatehouse kube login prod"/);
  });

  test('nodes: a terminal link and both commands per login, each with a copy button of the exact text; recordings follow', () => {
    const out = catalogueSections({ ...empty, nodes: [{ name: 'web-1', labels: { env: 'prod' }, logins: ['alice', 'root'] }] }).value;
    for (const login of ['alice', 'root']) {
      assert.match(out, new RegExp(`<a class="tag terminal" href="/terminal/web-1\\?login=${login}" title="[^"]+">${login}@web-1</a>`));
      for (const line of [sshJumpLine(login, 'web-1'), gatehouseSshLine(login, 'web-1')]) {
        assert.ok(out.includes(`<code>${line}</code><button type="button" class="copy" data-copy="${line}"`), line);
      }
    }
    assert.match(out, /env=prod/);
    assert.match(out, /id="my-recordings"[\s\S]*id="no-recordings"/, 'where recordings will be, before there are any');
    const withOne = catalogueSections({ ...empty, recordings: [recording] }).value;
    assert.match(withOne, new RegExp(`<a href="/recordings/${recording.id}">root@web-1</a>`));
    assert.match(withOne, /2026-01-31 17:05:09 UTC · shell/);
    assert.match(withOne, /<a href="\/recordings">All recordings<\/a>/);
  });

  test('databases: protocol, labels, db users and names; db login and a connect line per db user that is a name, each copyable', () => {
    const out = catalogueSections({ ...empty, databases: [ordersPg] }).value;
    assert.match(out, /id="databases"/);
    assert.match(
      out,
      /<div class="database" data-database="orders-pg">\s*<h3>orders-pg <span class="tag">postgres<\/span> <span class="tag label">env=prod<\/span><\/h3>/,
    );
    assert.match(out, /<dd class="db-users"><span class="tag">alice<\/span> <span class="tag">app_\*<\/span> <span class="tag">postgres<\/span> <\/dd>/);
    assert.match(out, /<dd class="db-names"><span class="tag">\*<\/span> <\/dd>/);
    for (const line of ['gatehouse db login orders-pg', 'gatehouse db connect orders-pg --db-user alice', 'gatehouse db connect orders-pg --db-user postgres'])
      assert.ok(copyable(out, line), line);
    assert.doesNotMatch(out, /--db-user app_/, 'no connect line for a pattern');
    assert.ok(copyable(out, 'gatehouse login --server https://gw.example'), 'the one-time login, when no node or cluster section shows it');
    assert.match(out, /id="my-recordings"/, 'database sessions are recorded too');
    for (const id of ['apps', 'ssh-nodes', 'clusters', 'catalogue-empty']) assert.doesNotMatch(out, new RegExp(`id="${id}"`));

    const afterClusters = catalogueSections({ ...empty, clusters: [{ name: 'prod' }], databases: [{ ...ordersPg, names: [] }] }).value;
    assert.equal(afterClusters.split('data-copy="gatehouse login --server').length - 1, 1, 'the login line once, in the clusters section');
    assert.match(afterClusters, /<dd class="db-names"><span class="muted">none<\/span><\/dd>/);
  });
});
