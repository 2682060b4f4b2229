import assert from 'node:assert/strict';
import { test } from 'node:test';
import { resolveAccess, type Policy } from '../../../src/access/index.js';
import { checkNodeLogin } from '../../../src/access/node-login.js';

const role = {
  kubernetes_groups: [],
  kubernetes_users: [],
  apps: [],
  port_forwarding: false,
  agent_forwarding: false,
  ssh_revoke: false,
  deny: { kubernetes_groups: [], kubernetes_users: [], logins: [], apps: [] },
};
const policy: Policy = {
  roles: [{ name: 'dev', ...role, logins: ['ubuntu', '{{username}}'], node_labels: { env: ['dev'] } }],
  mappings: [{ match: { connector: 'corp' }, roles: ['dev'] }],
  groupPrefixes: {},
};
const access = resolveAccess({ connector: 'corp', subject: 's1', username: 'ana', groups: [], claims: {} }, policy);
const dev = { name: 'dev-1', labels: { env: 'dev' } };
const prod = { name: 'prod-1', labels: { env: 'prod' } };

test('checkNodeLogin: allowed, the wrong login, no login at all, an unknown node', () => {
  assert.deepEqual(checkNodeLogin(access, dev, 'ana'), { allowed: true, node: dev, logins: ['ana', 'ubuntu'] });
  assert.deepEqual(checkNodeLogin(access, dev, 'root'), { allowed: false, reason: 'login_not_allowed', node: dev, logins: ['ana', 'ubuntu'] });
  assert.deepEqual(checkNodeLogin(access, prod, 'ubuntu'), { allowed: false, reason: 'no_login_on_node', node: prod, logins: [] });
  assert.deepEqual(checkNodeLogin(access, undefined, 'ubuntu'), { allowed: false, reason: 'unknown_node', node: undefined, logins: [] });
});
