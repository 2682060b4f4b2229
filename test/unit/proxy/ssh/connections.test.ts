import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { test } from 'node:test';
import type { Connection } from 'ssh2';
import type { Logger } from '../../../../src/core/logger.js';
import { createOpenConnections } from '../../../../src/proxy/ssh/connections.js';
import type { ParsedCertificate } from '../../../../src/ssh-ca/certs.js';

test('a revocation ends only the open connections whose certificate it covers', () => {
  const logger = { info: () => undefined } as unknown as Logger;
  const connections = createOpenConnections(logger);
  const ended: string[] = [];
  const conn = (name: string) => Object.assign(new EventEmitter(), { end: () => ended.push(name) }) as unknown as Connection;
  const cert = (serial: bigint, keyId: string) => ({ serial, keyId, validAfter: 0 }) as ParsedCertificate;
  const [a, b, c, closed] = [conn('a'), conn('b'), conn('c'), conn('closed')];
  for (const x of [a, b, c, closed]) connections.track(x);
  connections.authenticatedWith(a, cert(1n, 'alice'));
  connections.authenticatedWith(b, cert(2n, 'bob'));
  connections.authenticatedWith(closed, cert(1n, 'alice'));
  closed.emit('close');

  connections.endRevoked({ serial: '1', user: 'alice' });
  assert.deepEqual(ended, ['a']);
  connections.endAll();
  assert.deepEqual(ended, ['a', 'a', 'b', 'c']);
});
