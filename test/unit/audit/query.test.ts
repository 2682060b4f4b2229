import assert from 'node:assert/strict';
import { test } from 'node:test';
import { csvField, csvHeader, csvRow } from '../../../src/audit/export.js';
import { compileMatcher, parseAuditQuery, searchText } from '../../../src/audit/query.js';
import type { AuditEvent } from '../../../src/audit/sink.js';

test('parseAuditQuery normalises times, types, limits and order', () => {
  const q = parseAuditQuery({
    from: '2026-01-31',
    to: '2026-02-01T10:00',
    type: ['user.login,session.*', 'user.login'],
    limit: '10',
    order: 'asc',
    q: '  Firefox ',
  });
  assert.equal(q.from, '2026-01-31T00:00:00.000Z');
  assert.equal(q.to, '2026-02-01T10:00:00.000Z', 'no zone means UTC');
  assert.deepEqual(q.types, ['user.login', 'session.*']);
  assert.equal(q.limit, 10);
  assert.equal(q.order, 'asc');
  assert.equal(q.q, 'Firefox');
  assert.deepEqual(parseAuditQuery({}), { limit: 50, order: 'desc' });
  assert.equal(parseAuditQuery({ from: '2026-01-31T12:00:00+02:00' }).from, '2026-01-31T10:00:00.000Z');
});

test('parseAuditQuery rejects bad input with invalid_query', () => {
  for (const params of [
    { from: 'now' },
    { to: '2026-13-45' },
    { type: 'User.Login' },
    { type: 'a..b' },
    { outcome: 'ok' },
    { limit: '-1' },
    { limit: '1001' },
    { order: 'up' },
    { user: 'a\u0000b' },
    { q: 'x'.repeat(300) },
    { id: 'not-a-uuid' },
    { cursor: '!!' },
    { user: ['a', 'b'] },
  ]) {
    assert.throws(() => parseAuditQuery(params), { code: 'invalid_query', status: 400 }, JSON.stringify(params));
  }
});

const event = (over: Partial<AuditEvent>): AuditEvent => ({
  id: '00000000-0000-4000-8000-000000000001',
  time: '2026-01-31T10:00:00.000Z',
  type: 'user.login',
  code: 'GH1000I',
  outcome: 'success',
  prev_hash: 'p'.repeat(64),
  hash: 'h'.repeat(64),
  ...over,
});

test('the matcher: prefixes are whole segments, located fields fall back to details, text never spans values', () => {
  const m = (params: Record<string, unknown>) => compileMatcher(parseAuditQuery(params));
  assert.equal(m({ type: 'user.*' })(event({})), true);
  assert.equal(m({ type: 'use.*' })(event({})), false);
  assert.equal(m({ cluster: 'prod' })(event({ details: { cluster: 'prod' } })), true);
  assert.equal(m({ cluster: 'prod' })(event({ cluster: 'staging', details: { cluster: 'prod' } })), false, 'the top level wins');
  assert.equal(m({ q: 'alicebob' })(event({ user: 'alice', connector: 'bob' })), false);
  assert.equal(m({ q: 'ALI' })(event({ user: 'alice' })), true);
  assert.equal(m({ q: 'hhhh' })(event({})), false, 'hashes are not searched');
  assert.ok(!searchText(event({})).includes('hhhh'));
});

test('CSV export: RFC 4180 quoting and formula neutralising', () => {
  assert.equal(csvField('plain'), 'plain');
  assert.equal(csvField('a,b'), '"a,b"');
  assert.equal(csvField('say "hi"'), '"say ""hi"""');
  assert.equal(csvField('=HYPERLINK("x")'), `"'=HYPERLINK(""x"")"`);
  assert.equal(csvField('-1'), "'-1");
  assert.equal(csvField(['a', 'b']), 'a;b');
  assert.equal(csvField({ k: 1 }), '"{""k"":1}"');
  assert.equal(csvField(undefined), '');
  assert.ok(csvHeader().startsWith('id,time,type,code,outcome,user'));
  const row = csvRow(event({ user: 'alice', user_agent: 'x,y' }));
  assert.ok(row.endsWith('\r\n'));
  assert.ok(row.includes(',alice,') && row.includes('"x,y"'));
});
