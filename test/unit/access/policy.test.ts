import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { allowedLogins, canUseApp, reachableNodes, resolveAccess, type Policy } from '../../../src/access/index.js';
import type { MappingSpec, RoleSpec } from '../../../src/access/policy.js';
import type { ExternalIdentity } from '../../../src/core/types.js';

const role = (name: string, spec: Partial<RoleSpec> = {}): RoleSpec => ({
  name,
  kubernetes_groups: [],
  kubernetes_users: [],
  logins: [],
  node_labels: {},
  apps: [],
  port_forwarding: false,
  agent_forwarding: false,
  ssh_revoke: false,
  ...spec,
  deny: { kubernetes_groups: [], kubernetes_users: [], logins: [], apps: [], ...spec.deny },
});

const who = (over: Partial<ExternalIdentity> = {}): ExternalIdentity => ({
  connector: 'google',
  subject: 's',
  username: 'alice@example.com',
  email: 'alice@example.com',
  groups: [],
  claims: {},
  ...over,
});

const policy = (roles: RoleSpec[], mappings: MappingSpec[], groupPrefixes: Record<string, string> = {}): Policy => ({ roles, mappings, groupPrefixes });

describe('mappings grant roles', () => {
  const roles = [role('platform-admin'), role('viewer'), role('developer'), role('team-payments'), role('kc-admin')];
  const cases: { name: string; mappings: MappingSpec[]; identity: ExternalIdentity; roles: string[] }[] = [
    {
      name: 'connector + claim exact',
      mappings: [{ match: { connector: 'google', claim: 'groups', value: 'platform' }, roles: ['platform-admin'] }],
      identity: who({ groups: ['platform'] }),
      roles: ['platform-admin'],
    },
    {
      name: 'connector must match',
      mappings: [{ match: { connector: 'keycloak', claim: 'groups', value: 'platform' }, roles: ['platform-admin'] }],
      identity: who({ groups: ['platform'] }),
      roles: [],
    },
    {
      name: 'email glob, case-insensitive',
      mappings: [{ match: { email: '*@example.com' }, roles: ['viewer'] }],
      identity: who({ email: 'Bob@Example.com' }),
      roles: ['viewer'],
    },
    {
      name: 'email glob does not match other domains',
      mappings: [{ match: { email: '*@example.com' }, roles: ['viewer'] }],
      identity: who({ email: 'eve@example.com.evil' }),
      roles: [],
    },
    {
      name: 'regex on a multi-valued claim',
      mappings: [{ match: { claim: 'groups', value: '/^team-(.*)$/' }, roles: ['developer'] }],
      identity: who({ groups: ['x', 'team-payments'] }),
      roles: ['developer'],
    },
    {
      name: 'regex capture names the role',
      mappings: [{ match: { claim: 'groups', value: '/^team-(.*)$/' }, roles: ['team-$1'] }],
      identity: who({ groups: ['team-payments', 'team-unknown'] }),
      roles: ['team-payments'],
    },
    {
      name: 'glob claim value',
      mappings: [{ match: { claim: 'groups', value: 'plat*' }, roles: ['platform-admin'] }],
      identity: who({ groups: ['platform-eu'] }),
      roles: ['platform-admin'],
    },
    {
      name: 'dot-path claim',
      mappings: [{ match: { claim: 'realm_access.roles', value: 'admin' }, roles: ['kc-admin'] }],
      identity: who({ claims: { realm_access: { roles: ['admin'] } } }),
      roles: ['kc-admin'],
    },
    {
      name: 'every matching mapping adds roles',
      mappings: [
        { match: { email: '*@example.com' }, roles: ['viewer'] },
        { match: { claim: 'groups', value: 'platform' }, roles: ['platform-admin'] },
      ],
      identity: who({ groups: ['platform'] }),
      roles: ['platform-admin', 'viewer'],
    },
    { name: 'no match, no roles', mappings: [{ match: { claim: 'groups', value: 'platform' }, roles: ['platform-admin'] }], identity: who(), roles: [] },
    {
      name: 'regex is not implicitly anchored beyond what is written',
      mappings: [{ match: { claim: 'groups', value: '/^ops$/' }, roles: ['viewer'] }],
      identity: who({ groups: ['devops'] }),
      roles: [],
    },
  ];
  for (const c of cases) {
    test(c.name, () => assert.deepEqual(resolveAccess(c.identity, policy(roles, c.mappings)).roles, c.roles));
  }

  test('explain names the mappings behind each role and unknown roles', () => {
    const access = resolveAccess(
      who({ groups: ['team-payments', 'team-x'] }),
      policy(roles, [{ match: { claim: 'groups', value: '/^team-(.*)$/' }, roles: ['team-$1'] }]),
    );
    assert.deepEqual(access.explain.roles, { 'team-payments': [0] });
    assert.deepEqual(access.explain.unknownRoles, ['team-x']);
  });
});

describe('roles grant access; deny wins over allow', () => {
  const p = policy(
    [
      role('admin', {
        kubernetes_groups: ['platform-admins', 'system:masters'],
        logins: ['root', 'ubuntu'],
        node_labels: { env: ['*'] },
        apps: ['*'],
        audit: 'read',
        max_session_ttl_ms: 12 * 3600_000,
      }),
      role('guard', { deny: { kubernetes_groups: ['system:*'], kubernetes_users: [], logins: ['root'], apps: ['billing'] }, max_session_ttl_ms: 3600_000 }),
      role('dev', { kubernetes_groups: ['devs'], logins: ['dev'], node_labels: { env: ['staging', 'dev'] }, apps: ['wiki'] }),
    ],
    [
      { match: { claim: 'groups', value: 'admins' }, roles: ['admin', 'guard'] },
      { match: { claim: 'groups', value: 'devs' }, roles: ['dev'] },
    ],
  );

  test('union of allows minus union of denies', () => {
    const access = resolveAccess(who({ groups: ['admins', 'devs'] }), p);
    assert.deepEqual(access.roles, ['admin', 'dev', 'guard']);
    assert.deepEqual(access.kubernetesGroups, ['devs', 'platform-admins']);
    assert.deepEqual(access.logins, ['dev', 'ubuntu']);
    assert.equal(access.auditRead, true);
    assert.equal(access.maxSessionTtlMs, 3600_000, 'the smallest max_session_ttl wins');
    assert.deepEqual(access.explain.grants['kubernetes_groups:platform-admins'], ['admin']);
  });

  test('logins depend on node labels; denied logins never come back', () => {
    const access = resolveAccess(who({ groups: ['admins', 'devs'] }), p);
    assert.deepEqual(allowedLogins(access, { env: 'prod' }), ['ubuntu']);
    assert.deepEqual(allowedLogins(access, { env: 'staging' }), ['dev', 'ubuntu']);
    assert.deepEqual(allowedLogins(access, {}), [], 'a node without the label matches no role');
    const devOnly = resolveAccess(who({ groups: ['devs'] }), p);
    assert.deepEqual(allowedLogins(devOnly, { env: 'prod' }), []);
    const nodes = [
      { name: 'web-1', labels: { env: 'prod' } },
      { name: 'ci-1', labels: { env: 'staging' } },
    ];
    assert.deepEqual(
      reachableNodes(devOnly, nodes),
      [{ name: 'ci-1', labels: { env: 'staging' }, logins: ['dev'] }],
      'only nodes with a login, with those logins',
    );
  });

  test('apps: role globs, app role lists, and deny', () => {
    const admin = resolveAccess(who({ groups: ['admins'] }), p);
    assert.equal(canUseApp(admin, { name: 'grafana' }), true);
    assert.equal(canUseApp(admin, { name: 'billing' }), false, 'denied although * allows it');
    const dev = resolveAccess(who({ groups: ['devs'] }), p);
    assert.equal(canUseApp(dev, { name: 'wiki' }), true);
    assert.equal(canUseApp(dev, { name: 'grafana' }), false);
    assert.equal(canUseApp(dev, { name: 'grafana', roles: ['dev'] }), true, 'the app lists the role');
  });
});

describe('templates pass upstream values through', () => {
  const p = (prefixes: Record<string, string> = {}) =>
    policy(
      [
        role('member', {
          kubernetes_groups: ['{{external.groups}}', 'static'],
          kubernetes_users: ['{{email}}'],
          logins: ['{{email.local}}', '{{external.unix_login}}'],
        }),
      ],
      [{ match: { email: '*@example.com' }, roles: ['member'] }],
      prefixes,
    );

  test('external.groups, email, email.local and a custom claim', () => {
    const access = resolveAccess(who({ groups: ['team-a', 'team-b'], claims: { unix_login: 'alice2' } }), p());
    assert.deepEqual(access.kubernetesGroups, ['static', 'team-a', 'team-b']);
    assert.deepEqual(access.kubernetesUsers, ['alice@example.com']);
    assert.deepEqual(access.logins, ['alice', 'alice2']);
  });

  test('a per-connector prefix keeps groups from two IdPs apart', () => {
    const policyWithPrefixes = p({ google: 'google:', keycloak: 'kc:' });
    const fromGoogle = resolveAccess(who({ groups: ['ops'] }), policyWithPrefixes);
    const fromKeycloak = resolveAccess(who({ connector: 'keycloak', groups: ['ops'] }), policyWithPrefixes);
    assert.ok(fromGoogle.kubernetesGroups.includes('google:ops'));
    assert.ok(fromKeycloak.kubernetesGroups.includes('kc:ops'));
  });

  test('a template with no upstream value grants nothing', () => {
    const access = resolveAccess(who({ groups: [] }), p());
    assert.deepEqual(access.kubernetesGroups, ['static']);
    assert.deepEqual(access.logins, ['alice']);
  });

  test('deny applies to expanded values', () => {
    const denying = policy(
      [role('member', { kubernetes_groups: ['{{external.groups}}'], deny: { kubernetes_groups: ['system:*'], kubernetes_users: [], logins: [], apps: [] } })],
      [{ match: { email: '*@example.com' }, roles: ['member'] }],
    );
    assert.deepEqual(resolveAccess(who({ groups: ['system:masters', 'ok'] }), denying).kubernetesGroups, ['ok']);
  });
});
