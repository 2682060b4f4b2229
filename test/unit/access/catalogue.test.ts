// The "My access" catalogue: which apps, SSH nodes (with logins), clusters and databases (with db
// users and names) a person can reach, decided by the same policy as the proxies, the token
// endpoint and the db listener (allow minus deny, node labels, a cluster's roles, Kubernetes
// groups, databases' labels); the demo config reaches every kind it has.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { accessCatalogue } from '../../../src/access/catalogue.js';
import { connectCommands } from '../../../src/access/databases.js';
import { entitle, policyFromConfig } from '../../../src/access/index.js';
import { DEMO_NODE_NAME, demoConfig } from '../../../src/config/demo.js';
import { parseConfig } from '../../../src/config/load.js';
import type { ExternalIdentity } from '../../../src/core/types.js';

const who = (username: string, groups: string[], connector = 'corp'): ExternalIdentity => ({
  connector,
  subject: username,
  username,
  email: `${username}@example.com`,
  groups,
  claims: {},
});

const config = parseConfig({
  server: { public_url: 'https://gatehouse.example.com' },
  connectors: [{ type: 'oidc', id: 'corp', issuer: 'https://idp.example.com', client_id: 'gatehouse', client_secret: 'unused' }], // secret-scan: allow
  roles: [
    {
      name: 'admin',
      kubernetes_groups: ['platform-admins'],
      logins: ['root'],
      node_labels: { env: ['*'] },
      apps: ['*'],
      deny: { apps: ['payroll'] },
      databases: [{ labels: { env: '*' }, users: ['postgres', '{{email.local}}', 'app_*'], names: ['*'] }],
    },
    {
      name: 'dev',
      kubernetes_groups: ['developers'],
      logins: ['{{username}}', 'root'],
      node_labels: { env: ['dev'] },
      apps: ['wiki'],
      deny: { logins: ['root'] },
      databases: [{ labels: { env: 'dev' }, users: ['{{username}}'], names: ['app_*'] }],
    },
    // Db names without db users open nothing.
    { name: 'finance', apps: [], databases: [{ labels: { env: 'prod' }, names: ['*'] }] },
    { name: 'viewer' },
  ],
  mappings: [
    { match: { claim: 'groups', value: 'admins' }, roles: ['admin'] },
    { match: { claim: 'groups', value: 'devs' }, roles: ['dev'] },
    { match: { claim: 'groups', value: 'finance' }, roles: ['finance'] },
    { match: { claim: 'groups', value: 'viewers' }, roles: ['viewer'] },
  ],
  apps: [
    { name: 'grafana', upstream: 'http://grafana:3000', public_host: 'grafana.apps.example.com', roles: ['admin'] },
    { name: 'wiki', upstream: 'http://wiki:8080', public_host: 'wiki.apps.example.com' },
    { name: 'payroll', upstream: 'http://payroll:8080', public_host: 'payroll.apps.example.com', roles: ['finance'] },
  ],
  ssh: {
    nodes: [
      { name: 'web-1', addr: '10.0.0.5:22', labels: { env: 'prod' } },
      { name: 'dev-1', addr: '10.0.0.6:22', labels: { env: 'dev' } },
      { name: 'bare', addr: '10.0.0.7:22' },
    ],
  },
  clusters: [
    { name: 'prod', audience: 'gatehouse:prod', api_server: 'https://10.0.0.1:6443', roles: ['admin'] },
    { name: 'staging', audience: 'gatehouse:staging', api_server: 'https://10.0.0.2:6443' },
  ],
  databases: [
    { name: 'orders-pg', protocol: 'postgres', address: '10.0.0.8:5432', labels: { env: 'prod' } },
    { name: 'dev-pg', protocol: 'postgres', address: '10.0.0.9:5432', labels: { env: 'dev' } },
    { name: 'unlabelled', protocol: 'mysql', address: '10.0.0.10:3306' },
  ],
});
const policy = policyFromConfig(config);
const targets = { apps: config.apps, nodes: config.ssh!.nodes, clusters: config.clusters, databases: config.databases, databaseRoles: config.roles };
const names = (list: { name: string }[]) => list.map((x) => x.name);

describe('accessCatalogue', () => {
  test('an admin: every app but the denied one, every labelled node as root, both clusters, every labelled database', () => {
    const c = accessCatalogue(who('ann', ['admins']), policy, targets);
    assert.deepEqual(c.access.roles, ['admin']);
    assert.deepEqual(names(c.apps), ['grafana', 'wiki'], 'deny.apps wins over apps: ["*"]');
    assert.deepEqual(
      c.nodes.map((n) => [n.name, n.logins]),
      [
        ['web-1', ['root']],
        ['dev-1', ['root']],
      ],
      'a node without labels matches no role',
    );
    assert.deepEqual(names(c.clusters), ['prod', 'staging']);
    assert.deepEqual(
      c.databases.map((d) => [d.name, d.users, d.names]),
      [
        ['orders-pg', ['ann', 'app_*', 'postgres'], ['*']],
        ['dev-pg', ['ann', 'app_*', 'postgres'], ['*']],
      ],
      'templates expanded ({{email.local}}); a database without labels matches no grant',
    );
    assert.deepEqual(
      c.databases[0].connect,
      ['gatehouse db connect orders-pg --db-user ann', 'gatehouse db connect orders-pg --db-user postgres'],
      'no line for a pattern',
    );
  });

  test('a developer: the app their role lists, their own login on env=dev only (root denied), the cluster open to any role with groups', () => {
    const c = accessCatalogue(who('dave', ['devs']), policy, targets);
    assert.deepEqual(names(c.apps), ['wiki']);
    assert.deepEqual(
      c.nodes.map((n) => [n.name, n.logins]),
      [['dev-1', ['dave']]],
    );
    assert.deepEqual(names(c.clusters), ['staging'], 'prod is for admins only');
    assert.deepEqual(
      c.databases.map((d) => [d.name, d.users, d.names, d.connect]),
      [['dev-pg', ['dave'], ['app_*'], ['gatehouse db connect dev-pg --db-user dave']]],
    );
  });

  test('an app that lists a role is reachable by it; a role without Kubernetes groups gets no cluster', () => {
    const c = accessCatalogue(who('fay', ['finance']), policy, targets);
    assert.deepEqual(names(c.apps), ['payroll']);
    assert.deepEqual(c.nodes, []);
    assert.deepEqual(c.clusters, []);
    assert.deepEqual(c.databases, [], 'db names without a db user open no database');
  });

  test('roles that grant nothing, and no roles at all: an empty catalogue', () => {
    for (const groups of [['viewers'], []]) {
      const c = accessCatalogue(who('vic', groups), policy, targets);
      assert.deepEqual([c.apps, c.nodes, c.clusters, c.databases], [[], [], [], []], groups.join());
    }
  });

  test('clusters: the same decision as the token endpoint', () => {
    for (const groups of [['admins'], ['devs'], ['finance'], ['admins', 'devs'], []]) {
      const identity = who('x', groups);
      const listed = names(accessCatalogue(identity, policy, targets).clusters);
      const tokens = config.clusters.filter((cl) => entitle(identity, cl.audience, policy, config.clusters, 'gatehouse').allowed).map((cl) => cl.name);
      assert.deepEqual(listed, tokens, groups.join());
    }
  });

  test('keeps the targets as given (config fields pass through)', () => {
    const c = accessCatalogue(who('ann', ['admins']), policy, targets);
    assert.equal(c.apps[0], config.apps[0]);
    assert.equal(c.nodes[0].addr, '10.0.0.5:22');
    assert.equal(c.databases[0].address, '10.0.0.8:5432');
  });

  test('databases: a connect line for each db user that is a name, the same lines the API answers', () => {
    assert.deepEqual(connectCommands('db', ['alice', 'app_*', 'r?', '/^ops-.*$/', 'postgres']), [
      'gatehouse db connect db --db-user alice',
      'gatehouse db connect db --db-user postgres',
    ]);
    const c = accessCatalogue(who('ann', ['admins', 'devs']), policy, targets);
    assert.deepEqual(
      c.databases.map((d) => [d.name, d.users]),
      [
        ['orders-pg', ['ann', 'app_*', 'postgres']],
        ['dev-pg', ['ann', 'app_*', 'postgres']],
      ],
      'two roles on one database: one entry, their grants merged',
    );
    assert.deepEqual(c.databases[1].names, ['*', 'app_*']);
  });
});

describe('the demo config', () => {
  const demo = demoConfig({ listen: '127.0.0.1:0' });
  const demoPolicy = policyFromConfig(demo);
  const demoApp = { name: 'whoami', roles: [] as string[] };
  const reach = (identity: ExternalIdentity) =>
    accessCatalogue(identity, demoPolicy, {
      apps: [demoApp],
      nodes: demo.ssh!.nodes,
      clusters: demo.clusters,
      databases: demo.databases,
      databaseRoles: demo.roles,
    });

  test('alice (admins, devs): the demo app, and the demo node as root and as alice', () => {
    const c = reach(who('alice', ['admins', 'devs'], 'demo'));
    assert.deepEqual(names(c.apps), ['whoami']);
    assert.deepEqual(
      c.nodes.map((n) => [n.name, n.logins]),
      [[DEMO_NODE_NAME, ['alice', 'root']]],
    );
    assert.deepEqual(c.databases, [], 'the demo has no database: it would need a PostgreSQL server');
  });

  test('bob (devs): the demo app, and the demo node as bob', () => {
    const c = reach(who('bob', ['devs'], 'demo'));
    assert.deepEqual(names(c.apps), ['whoami']);
    assert.deepEqual(
      c.nodes.map((n) => [n.name, n.logins]),
      [[DEMO_NODE_NAME, ['bob']]],
    );
  });

  test('the demo node is refused until the gateway starts it: no address, and a pinned host key is required', () => {
    assert.equal(demo.ssh!.require_host_key, true);
    assert.equal(demo.ssh!.nodes[0].host_key, undefined);
    assert.equal(demo.ssh!.nodes[0].addr, '127.0.0.1:0');
    assert.equal(demo.ssh!.listen, '127.0.0.1:0', 'any free port when --listen is given');
    assert.equal(demoConfig().ssh!.listen, '127.0.0.1:3022');
    assert.equal(demoConfig({ listen: '0.0.0.0:9090' }).ssh!.listen, '0.0.0.0:0');
  });
});
