// Policy tests (`tests:` in the config, run by check-config) with access requests: an identity's
// `access_requests` grant their roles as an approved request would, requestable roles named by a
// mapping are never granted, and `expect.requestable` asserts what the identity may ask for.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { MappingSpec, Policy, RoleSpec } from '../../../src/access/policy.js';
import { exampleRequestGrants, runPolicyTests, type PolicyTest } from '../../../src/access/policy-tests.js';
import { policyFromConfig } from '../../../src/access/index.js';
import { ConfigError, parseConfig } from '../../../src/config/load.js';

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

const roles = [
  role('developer', {
    kubernetes_groups: ['developers'],
    request: { roles: ['prod-admin'], reviewers: { roles: ['sre-lead'], approvals: 1 }, require_reason: true },
  }),
  role('sre-lead', { request: { roles: ['prod-admin', 'db-admin'], reviewers: { roles: ['sre-lead'], approvals: 2 }, require_reason: false } }),
  role('prod-admin', { requestable: true, max_duration_ms: 4 * 3_600_000, kubernetes_groups: ['prod-admins'], logins: ['root'] }),
  role('db-admin', { requestable: true, apps: ['pgadmin'] }),
];
const mappings: MappingSpec[] = [
  { match: { claim: 'groups', value: 'devs' }, roles: ['developer'] },
  { match: { claim: 'groups', value: 'sre' }, roles: ['sre-lead'] },
  // Only requests grant requestable roles: this line grants nothing.
  { match: { claim: 'groups', value: 'oncall' }, roles: ['prod-admin'] },
];
const policy: Policy = { roles, mappings, groupPrefixes: {} };

const bob = (over: Partial<PolicyTest['identity']> = {}): PolicyTest['identity'] => ({
  connector: 'corp',
  username: 'bob',
  groups: ['devs'],
  claims: {},
  ...over,
});

describe('policy tests with access requests', () => {
  test('a request grants its roles and what they carry; the same expectations fail without it', () => {
    const expect = { roles: ['developer', 'prod-admin'], kubernetes_groups: ['developers', 'prod-admins'], logins: ['root'] };
    assert.deepEqual(runPolicyTests(policy, [{ name: 'on call', identity: bob({ access_requests: [{ roles: ['prod-admin'] }] }), expect }]), []);
    assert.deepEqual(runPolicyTests(policy, [{ name: 'on call', identity: bob(), expect }]), [
      'tests.0 (on call): roles expected [developer, prod-admin] but got [developer]',
      'tests.0 (on call): kubernetes_groups expected [developers, prod-admins] but got [developers]',
      'tests.0 (on call): logins expected [root] but got []',
    ]);
  });

  test('a request grants only its own roles', () => {
    const failures = runPolicyTests(policy, [
      {
        identity: bob({ access_requests: [{ id: 'INC-1', roles: ['prod-admin'] }] }),
        expect: { roles: ['developer', 'prod-admin', 'db-admin'], apps: ['pgadmin'] },
      },
    ]);
    assert.deepEqual(failures, [
      'tests.0: roles expected [db-admin, developer, prod-admin] but got [developer, prod-admin]',
      'tests.0: apps expected [pgadmin] but got []',
    ]);
  });

  test('a requestable role named by a mapping is not granted', () => {
    const oncall = bob({ groups: ['devs', 'oncall'] });
    assert.deepEqual(runPolicyTests(policy, [{ identity: oncall, expect: { roles: ['developer'], kubernetes_groups: ['developers'] } }]), []);
    assert.deepEqual(runPolicyTests(policy, [{ identity: oncall, expect: { roles: ['developer', 'prod-admin'] } }]), [
      'tests.0: roles expected [developer, prod-admin] but got [developer]',
    ]);
  });

  test('expect.requestable: what the roles from mappings allow, whatever requests are held', () => {
    const tests: PolicyTest[] = [
      { name: 'dev', identity: bob(), expect: { requestable: ['prod-admin'] } },
      { name: 'sre', identity: bob({ groups: ['sre'] }), expect: { requestable: ['prod-admin', 'db-admin'] } },
      // Holding prod-admin by request does not widen what may be requested.
      { name: 'dev with a request', identity: bob({ access_requests: [{ roles: ['prod-admin'] }] }), expect: { requestable: ['prod-admin'] } },
      { name: 'nobody', identity: bob({ groups: [] }), expect: { requestable: [] } },
    ];
    assert.deepEqual(runPolicyTests(policy, tests), []);
    assert.deepEqual(runPolicyTests(policy, [{ name: 'dev', identity: bob(), expect: { requestable: ['db-admin', 'prod-admin'] } }]), [
      'tests.0 (dev): requestable expected [db-admin, prod-admin] but got [prod-admin]',
    ]);
  });

  test('a request naming an undefined or a non-requestable role is a failure, not a silent pass', () => {
    const failures = runPolicyTests(policy, [
      { name: 'typo', identity: bob({ access_requests: [{ roles: ['prod-admn'] }] }), expect: { roles: ['developer'] } },
      { name: 'not requestable', identity: bob({ access_requests: [{ roles: ['prod-admin'] }, { roles: ['sre-lead'] }] }), expect: {} },
    ]);
    assert.deepEqual(failures, [
      'tests.0 (typo): identity.access_requests.0.roles.0: no role is named "prod-admn"',
      'tests.1 (not requestable): identity.access_requests.1.roles.0: "sre-lead" is not requestable (set requestable: true on the role)',
    ]);
  });

  test('example requests: ids default to test-request-<n>, expiry to an hour on', () => {
    const now = Date.parse('2030-01-01T00:00:00Z');
    assert.deepEqual(exampleRequestGrants([{ roles: ['a'] }, { id: 'INC-9', roles: ['b'], expires_at: '2030-01-01T00:30:00Z' }], now), [
      { id: 'test-request-1', roles: ['a'], expiresAt: now + 3_600_000, reason: '' },
      { id: 'INC-9', roles: ['b'], expiresAt: now + 1_800_000, reason: '' },
    ]);
  });

  test('the config file takes identity.access_requests and expect.requestable, and refuses unknown keys in them', () => {
    const raw = {
      server: { public_url: 'http://127.0.0.1:9', listen: '127.0.0.1:9' },
      connectors: [{ type: 'demo' }],
      roles: [
        { name: 'developer', request: { roles: ['prod-admin'], reviewers: { roles: ['sre-lead'] } } },
        { name: 'sre-lead' },
        { name: 'prod-admin', requestable: true, kubernetes_groups: ['prod-admins'] },
      ],
      mappings: [{ match: { claim: 'groups', value: 'devs' }, roles: ['developer'] }],
      tests: [
        {
          identity: { connector: 'demo', username: 'bob', groups: ['devs'], access_requests: [{ roles: ['prod-admin'] }] },
          expect: { roles: ['developer', 'prod-admin'], kubernetes_groups: ['prod-admins'], requestable: ['prod-admin'] },
        },
      ],
    };
    const config = parseConfig(raw);
    assert.deepEqual(runPolicyTests(policyFromConfig(config), config.tests), []);
    const withExpiry = structuredClone(raw);
    Object.assign(withExpiry.tests[0].identity.access_requests[0], { expires_at: '2030-01-01T00:00:00Z' });
    assert.throws(
      () => parseConfig(withExpiry),
      (err: unknown) => err instanceof ConfigError && /tests\.0\.identity\.access_requests\.0/.test(err.message),
    );
  });
});
