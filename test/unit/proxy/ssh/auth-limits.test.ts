import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { test } from 'node:test';
import type { Connection } from 'ssh2';
import { createAuthLimits } from '../../../../src/proxy/ssh/auth-limits.js';
import { createMemoryStore } from '../../../../src/store/memory.js';

const fakeConn = () => Object.assign(new EventEmitter(), { end: () => undefined }) as unknown as Connection;
const context = { remoteAddr: '192.0.2.7' };

test('a connection gets ten authentication requests, then no more', () => {
  const limits = createAuthLimits(undefined);
  const conn = fakeConn();
  for (let i = 0; i < 10; i++) assert.equal(limits.countAttempt(conn), true);
  assert.equal(limits.countAttempt(conn), false);
  assert.equal(limits.countAttempt(fakeConn()), true);
});

test('without a store nothing is counted or refused', async () => {
  const limits = createAuthLimits(undefined);
  for (let i = 0; i < 30; i++) await limits.recordFailure(fakeConn(), context, 'alice');
  assert.equal(await limits.refusal(context, 'alice'), undefined);
});

test('failures per address and per person are refused past their limits, the first refusal marked', async () => {
  const limits = createAuthLimits({ store: createMemoryStore(), perAddress: 3, perUser: 2 });
  await limits.recordFailure(fakeConn(), { remoteAddr: '192.0.2.1' }, 'alice');
  await limits.recordFailure(fakeConn(), { remoteAddr: '192.0.2.2' }, 'alice');
  assert.deepEqual(await limits.refusal({ remoteAddr: '192.0.2.3' }, 'alice'), { limit: 'user', first: true });
  assert.deepEqual(await limits.refusal({ remoteAddr: '192.0.2.3' }, 'alice'), { limit: 'user', first: false });
  assert.equal(await limits.refusal({ remoteAddr: '192.0.2.3' }, 'bob'), undefined);

  for (let i = 0; i < 3; i++) await limits.recordFailure(fakeConn(), context, undefined);
  assert.deepEqual(await limits.refusal(context, 'bob'), { limit: 'address', first: true });
});

test('plain keys count once per connection', async () => {
  const limits = createAuthLimits({ store: createMemoryStore(), perAddress: 2 });
  const conn = fakeConn();
  for (let i = 0; i < 5; i++) await limits.recordFailure(conn, context, undefined, true);
  assert.equal(await limits.refusal(context, undefined), undefined);
  await limits.recordFailure(conn, context, undefined);
  assert.equal((await limits.refusal(context, undefined))?.limit, 'address');
});
