import assert from 'node:assert/strict';
import { test } from 'node:test';
import { impersonate, impersonationHeaders, type KubeIdentity } from '../../../../src/proxy/kube/impersonation.js';

const alice: KubeIdentity = {
  username: 'alice',
  groups: ['developers', 'platform-admins'],
  users: ['ci-deployer', 'deploy-*'],
  roles: ['admin'],
  connector: 'corp',
};
const opts = { usernamePrefix: 'gatehouse:', remoteAddr: '10.1.2.3' };
const ok = (headers: NodeJS.Dict<string[]>, who = alice) => {
  const r = impersonate(who, headers, opts);
  assert.ok(r.ok, JSON.stringify(r));
  return r.impersonation;
};

test('the mapped identity plus system:authenticated, with connector, roles and address as extras', () => {
  const imp = ok({});
  assert.equal(imp.user, 'gatehouse:alice');
  assert.deepEqual(imp.groups, ['developers', 'platform-admins', 'system:authenticated']);
  assert.deepEqual(impersonationHeaders(imp), {
    'Impersonate-User': 'gatehouse:alice',
    'Impersonate-Group': ['developers', 'platform-admins', 'system:authenticated'],
    'Impersonate-Extra-gatehouse.dev%2Fconnector': ['corp'],
    'Impersonate-Extra-gatehouse.dev%2Froles': ['admin'],
    'Impersonate-Extra-gatehouse.dev%2Fremote-addr': ['10.1.2.3'],
  });
});

test('client Uid and Extra headers are ignored; --as narrows only to listed users and mapped groups', () => {
  assert.equal(ok({ 'impersonate-uid': ['x'], 'impersonate-extra-scopes': ['y'] }).user, 'gatehouse:alice');
  assert.deepEqual(ok({ 'impersonate-user': ['ci-deployer'] }), {
    ...ok({}),
    user: 'ci-deployer',
    groups: ['system:authenticated'],
    requested: { user: 'ci-deployer', groups: [] },
  });
  assert.equal(ok({ 'impersonate-user': ['deploy-7'] }).user, 'deploy-7', 'globs in kubernetes_users');
  assert.deepEqual(ok({ 'impersonate-user': ['gatehouse:alice'], 'impersonate-group': ['developers'] }).groups, ['developers', 'system:authenticated']);
  assert.deepEqual(ok({ 'impersonate-group': ['developers', 'system:authenticated'] }).groups, ['developers', 'system:authenticated']);
  for (const headers of [
    { 'impersonate-user': ['bob'] },
    { 'impersonate-user': ['system:admin'] },
    { 'impersonate-group': ['system:masters'] },
    { 'impersonate-group': ['developers', 'ops'] },
  ]) {
    const r = impersonate(alice, headers, opts);
    assert.equal(r.ok, false, JSON.stringify(headers));
    assert.equal(!r.ok && r.reason, 'impersonation_denied');
  }
  assert.equal(impersonate({ ...alice, users: [] }, { 'impersonate-user': ['ci-deployer'] }, opts).ok, false, 'no kubernetes_users: no --as');
  assert.equal(impersonate({ ...alice, users: ['*'] }, { 'impersonate-user': ['system:admin'] }, opts).ok, false, 'system: users are never allowed');
});
