import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { AuditInput, AuditSink } from '../../../src/audit/sink.js';
import { GatehouseError } from '../../../src/core/errors.js';
import { createTokenRejections } from '../../../src/web/token-rejections.js';

test('refused bearer tokens: one event per address and reason per minute, then the suppressed count', async () => {
  const events: AuditInput[] = [];
  const audit = { emit: async (e: AuditInput) => (events.push(e), {}) } as unknown as AuditSink;
  let now = 1_000_000;
  const r = createTokenRejections(audit, { error() {} }, () => now);
  const bad = new GatehouseError('invalid_token', 'token is malformed', { status: 401 });
  const ctx = { remoteAddr: '192.0.2.1', requestId: 'req-1' };
  for (let i = 0; i < 100; i++) await r.record(bad, ctx, '/api/v1/whoami');
  assert.equal(events.length, 1);
  assert.equal(events[0].type, 'auth.token_rejected');
  assert.equal(events[0].reason, 'invalid_token');
  await r.record(bad, { ...ctx, remoteAddr: '192.0.2.2' }, '/api/v1/whoami');
  await r.record(new GatehouseError('token_revoked', 'revoked', { status: 401 }), ctx, '/api/v1/whoami');
  assert.equal(events.length, 3, 'another address or reason is its own event');
  now += 60_001;
  await r.record(bad, ctx, `/api/v1/${'x'.repeat(1000)}`);
  assert.equal(events.length, 4);
  assert.equal(events[3].details?.suppressed, 99);
  assert.ok(String(events[3].details?.path).length <= 256);
});
