import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { findChainBreak, GENESIS_HASH } from '../../../src/audit/chain.js';
import { auditFiles, createFileAuditSink, readAuditEvents } from '../../../src/audit/file.js';

const dir = () => mkdtempSync(join(tmpdir(), 'gh-audit-'));

test('events are chained, durable when emit resolves, and carry the common fields', async () => {
  const d = dir();
  const sink = createFileAuditSink({ dir: d });
  const first = await sink.emit({
    type: 'user.login',
    outcome: 'success',
    user: 'alice',
    connector: 'corp',
    context: { remoteAddr: '127.0.0.1', userAgent: 'ua', requestId: 'req-1234' },
  });
  assert.equal(first.prev_hash, GENESIS_HASH);
  assert.equal(first.code, 'GH1000I');
  assert.match(first.time, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
  assert.equal(first.remote_addr, '127.0.0.1');
  assert.equal(first.request_id, 'req-1234');
  const burst = await Promise.all(Array.from({ length: 100 }, (_, i) => sink.emit({ type: 'user.login', outcome: 'failure', reason: `r${i}` })));
  assert.equal(burst[0].prev_hash, first.hash);
  const stored = readAuditEvents(d);
  assert.equal(stored.length, 101);
  assert.equal(findChainBreak(stored), -1);
  assert.equal(statSync(auditFiles(d)[0]).mode & 0o777, 0o600);
  await sink.close();

  // A restarted sink continues the chain from the last stored event.
  const again = createFileAuditSink({ dir: d });
  const next = await again.emit({ type: 'user.logout', outcome: 'success', user: 'alice' });
  assert.equal(next.prev_hash, stored.at(-1)!.hash);
  await again.close();
});

test('a changed event breaks the chain at that event', async () => {
  const d = dir();
  const sink = createFileAuditSink({ dir: d });
  for (let i = 0; i < 5; i++) await sink.emit({ type: 'user.login', outcome: 'success', user: `u${i}` });
  await sink.close();
  const [file] = auditFiles(d);
  writeFileSync(file, readFileSync(file, 'utf8').replace('"user":"u2"', '"user":"u9"'));
  assert.equal(findChainBreak(readAuditEvents(d)), 2);
});

test('files are split by UTC day', async () => {
  const d = dir();
  let now = Date.parse('2026-11-26T23:59:59.900Z');
  const sink = createFileAuditSink({ dir: d, clock: { now: () => now } });
  await sink.emit({ type: 'user.login', outcome: 'success' });
  now = Date.parse('2026-11-27T00:00:00.100Z');
  await sink.emit({ type: 'user.login', outcome: 'success' });
  await sink.close();
  assert.deepEqual(
    auditFiles(d).map((f) => f.slice(-22)),
    ['audit-2026-11-26.jsonl', 'audit-2026-11-27.jsonl'],
  );
  assert.equal(findChainBreak(readAuditEvents(d)), -1);
});
