// Database policy: grants apply to databases whose labels match (an entry without labels matches
// none), db users are templates, names are globs; refusals say which part is not allowed.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkDatabaseLogin, databaseAccess, reachableDatabases } from '../../../src/access/databases.js';

const alice = { connector: 'corp', subject: 's', username: 'alice', email: 'alice.smith@example.com', groups: ['dba'], claims: {} };
const specs = [
  { name: 'dba', databases: [{ labels: { env: ['*'] }, users: ['postgres', '{{email.local}}'], names: ['*'] }] },
  { name: 'dev', databases: [{ labels: { env: ['dev'] }, users: ['{{username}}'], names: ['app_*'] }] },
  { name: 'nolabels', databases: [{ labels: {}, users: ['x'], names: ['*'] }] },
];

test('users expanded from templates, on databases whose labels match', () => {
  assert.deepEqual(databaseAccess(alice, ['dba'], specs, '', { env: 'prod' }), { users: ['alice.smith', 'postgres'], names: ['*'] });
  assert.deepEqual(databaseAccess(alice, ['dev'], specs, '', { env: 'prod' }), { users: [], names: [] });
  assert.deepEqual(databaseAccess(alice, ['dev'], specs, '', { env: 'dev' }), { users: ['alice'], names: ['app_*'] });
  assert.deepEqual(databaseAccess(alice, ['nolabels'], specs, '', { env: 'dev' }), { users: [], names: [] });
  assert.deepEqual(databaseAccess(alice, [], specs, '', { env: 'dev' }), { users: [], names: [] });
});

test('checkDatabaseLogin: the user, then the name', () => {
  const access = { users: ['alice'], names: ['app_*'] };
  assert.deepEqual(checkDatabaseLogin('d', access, 'alice', 'app_orders'), { allowed: true });
  assert.equal(checkDatabaseLogin('d', access, 'root', 'app_orders').allowed === false && 'user', 'user');
  const name = checkDatabaseLogin('d', access, 'alice', 'postgres');
  assert.ok(!name.allowed && name.reason === 'db_name_not_allowed' && /app_\*/.test(name.message));
  const none = checkDatabaseLogin('d', { users: [], names: [] }, 'alice', 'x');
  assert.ok(!none.allowed && none.reason === 'db_access_denied');
});

test('reachableDatabases lists only databases with some db user', () => {
  const dbs = [
    { name: 'prod', labels: { env: 'prod' } },
    { name: 'dev', labels: { env: 'dev' } },
  ];
  assert.deepEqual(
    reachableDatabases(alice, ['dev'], specs, '', dbs).map((d) => [d.name, d.users]),
    [['dev', ['alice']]],
  );
});
