// PostgreSQL backend behaviour beyond the contract: several replicas on one chain, an outage in
// the middle of a burst (through a TCP proxy we cut, never the shared server), starting while the
// database is down, and a gateway that starts without it and reports it on /readyz.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test, type TestContext } from 'node:test';
import { createPostgresAuditBackend } from '../../src/audit/postgres.js';
import type { AuditBackend } from '../../src/audit/reader.js';
import type { AuditEvent } from '../../src/audit/sink.js';
import { eventually } from '../helpers/eventually.js';
import { startGateway } from '../helpers/gateways/gateway.js';
import { dropSchema, freshSchema, PG_URL, requirePostgres, sql, startPgProxy } from '../helpers/peers/postgres.js';

async function setUp(t: TestContext) {
  if (!(await requirePostgres(t))) return undefined;
  const schema = freshSchema();
  const tmp = mkdtempSync(join(tmpdir(), 'gh-audit-pg-'));
  const backends: AuditBackend[] = [];
  t.after(async () => {
    for (const b of backends) await b.close().catch(() => undefined);
    await dropSchema(schema);
    rmSync(tmp, { recursive: true, force: true });
  });
  const open = (url: string, name = 'a') => {
    const b = createPostgresAuditBackend({ url, schema, spoolDir: join(tmp, `spool-${name}`) });
    backends.push(b);
    return b;
  };
  return { schema, tmp, open };
}

async function allAsc(b: AuditBackend): Promise<AuditEvent[]> {
  const out: AuditEvent[] = [];
  for await (const { event } of b.scan({ limit: 1, order: 'asc' })) out.push(event);
  return out;
}

// The deadline only bounds a broken run.
const WAIT = { timeoutMs: 30_000, intervalMs: 100 };

describe('PostgreSQL audit backend', () => {
  test('two replicas writing at once share one intact chain (advisory-locked head)', async (t) => {
    const s = await setUp(t);
    if (!s) return;
    const a = s.open(PG_URL, 'a');
    const b = s.open(PG_URL, 'b');
    const emitted = await Promise.all(
      Array.from({ length: 400 }, (_, i) => (i % 2 ? a : b).emit({ type: 'user.login', outcome: 'success', user: `r${i % 2}`, details: { i } })),
    );
    assert.ok(
      emitted.every((e) => e.hash.length === 64),
      'stored directly, not spooled',
    );
    const result = await a.verify();
    assert.equal(result.ok, true, JSON.stringify(result.break));
    assert.equal(result.events, 400);
    const seqs = await sql<{ seq: string }>(`SELECT seq FROM "${s.schema}".audit_events ORDER BY seq`);
    assert.deepEqual(
      seqs.map((r) => Number(r.seq)),
      Array.from({ length: 400 }, (_, i) => i + 1),
      'no gaps, no duplicates',
    );
    const tables = await sql<{ indexname: string }>(`SELECT indexname FROM pg_indexes WHERE schemaname = $1 ORDER BY 1`, [s.schema]);
    assert.deepEqual(
      tables.map((r) => r.indexname).filter((n) => n.startsWith('audit_events_')),
      [
        'audit_events_app',
        'audit_events_cluster',
        'audit_events_id',
        'audit_events_node',
        'audit_events_pkey',
        'audit_events_session',
        'audit_events_time',
        'audit_events_type',
        'audit_events_user',
      ],
    );
  });

  test('an index column changed behind our back is reported at that event', async (t) => {
    const s = await setUp(t);
    if (!s) return;
    const b = s.open(PG_URL);
    const events: AuditEvent[] = [];
    for (let i = 0; i < 5; i++) events.push(await b.emit({ type: 'user.login', outcome: 'success', user: `u${i}` }));
    await sql(`UPDATE "${s.schema}".audit_events SET "user" = 'mallory' WHERE id = $1`, [events[3].id]);
    const result = await b.verify();
    assert.equal(result.ok, false);
    assert.equal(result.break?.reason, 'index_mismatch');
    assert.equal(result.break?.id, events[3].id);
    assert.equal(result.break?.location, 'seq 4');
  });

  test('outage mid-burst: events spool, then reach PostgreSQL in order with the chain intact', async (t) => {
    const s = await setUp(t);
    if (!s) return;
    const proxy = await startPgProxy();
    t.after(() => proxy.close());
    const b = s.open(proxy.url);
    const order: string[] = [];
    const emit = async (n: number, tag: string) => {
      for (let wave = 0; wave < n; wave += 25) {
        const batch = await Promise.all(
          Array.from({ length: Math.min(25, n - wave) }, (_, i) => b.emit({ type: 'user.login', outcome: 'success', user: tag, details: { i: wave + i } })),
        );
        order.push(...batch.map((e) => e.id));
      }
    };
    await emit(50, 'before');
    await proxy.cut();
    await emit(200, 'during');
    const during = await b.status();
    assert.equal(during.ready, true, 'degraded but accepting events');
    assert.match(during.detail, /PostgreSQL unreachable.*events spool to .*\(\d+ waiting\)/);
    assert.ok(existsSync(join(s.tmp, 'spool-a', 'audit-spool.jsonl')), 'spool file on disk');
    await proxy.restore();
    await emit(30, 'after');
    await eventually(async () => (await b.status()).detail === 'ok', { ...WAIT, message: 'the spool did not drain' });
    const stored = await allAsc(b);
    assert.deepEqual(
      stored.map((e) => e.id),
      order,
      'every event, in emit order',
    );
    const result = await b.verify();
    assert.equal(result.ok, true, JSON.stringify(result.break));
    assert.equal(result.events, 280);
    assert.ok(!existsSync(join(s.tmp, 'spool-a', 'audit-spool.jsonl')), 'spool removed once drained');
  });

  test('starts while PostgreSQL is down: spools, then migrates and flushes when it appears', async (t) => {
    const s = await setUp(t);
    if (!s) return;
    const proxy = await startPgProxy({ listening: false });
    t.after(() => proxy.close());
    const b = s.open(proxy.url);
    const early = await b.emit({ type: 'user.login', outcome: 'success', user: 'early' });
    assert.equal(early.hash, '', 'spooled: chained when stored');
    assert.match((await b.status()).detail, /unreachable/);
    await proxy.restore();
    await eventually(async () => (await b.status()).detail === 'ok', { ...WAIT, message: 'the spool did not drain' });
    const [stored] = await allAsc(b);
    assert.equal(stored.id, early.id);
    assert.equal(stored.time, early.time, 'keeps the time of the action');
    assert.match(stored.hash, /^[0-9a-f]{64}$/);
  });

  test('a spool left by a previous run is flushed at start, without duplicates', async (t) => {
    const s = await setUp(t);
    if (!s) return;
    const proxy = await startPgProxy({ listening: false });
    t.after(() => proxy.close());
    const first = s.open(proxy.url);
    const spooled = await Promise.all(Array.from({ length: 10 }, (_, i) => first.emit({ type: 'user.logout', outcome: 'success', user: `s${i}` })));
    await first.close();
    const second = s.open(PG_URL);
    await eventually(async () => (await second.status()).detail === 'ok', { ...WAIT, message: 'the spool did not drain' });
    assert.deepEqual(
      (await allAsc(second)).map((e) => e.id),
      spooled.map((e) => e.id),
    );
  });

  test('a gateway configured for PostgreSQL starts while it is down; /readyz reports the audit backend', async (t) => {
    const s = await setUp(t);
    if (!s) return;
    const proxy = await startPgProxy({ listening: false });
    t.after(() => proxy.close());
    const gw = await startGateway({
      connectors: [{ type: 'demo', id: 'demo' }],
      audit: { backend: 'postgres', postgres_url: proxy.url, postgres_schema: s.schema },
    });
    t.after(() => gw.stop());
    const down = (await (await fetch(`${gw.url}/readyz`)).json()) as { ready: boolean; checks: Record<string, string> };
    assert.match(down.checks.audit, /PostgreSQL unreachable/);
    assert.equal(down.ready, true, 'spooling keeps the gateway serving');
    const token = await gw.gateway.issuer.mint({ subject: 'demo:bob', audience: 'gatehouse', claims: { preferred_username: 'bob', groups: [] } });
    // An audited refusal while the database is away: recorded through the spool.
    const res = await fetch(`${gw.url}/api/v1/audit/events?user=alice`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(res.status, 403);
    const read = await fetch(`${gw.url}/api/v1/audit/events`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(read.status, 503, 'reading needs the database');
    assert.equal(((await read.json()) as { error: string }).error, 'audit_unavailable');
    await proxy.restore();
    await eventually(
      async () => {
        const body = (await (await fetch(`${gw.url}/readyz`)).json()) as { checks: Record<string, string> };
        return body.checks.audit === 'ok';
      },
      { ...WAIT, message: 'readyz did not report the audit backend ok' },
    );
    const page = (await (await fetch(`${gw.url}/api/v1/audit/events`, { headers: { authorization: `Bearer ${token}` } })).json()) as { events: AuditEvent[] };
    assert.equal(page.events.length, 1);
    assert.equal(page.events[0].type, 'audit.read');
    assert.equal(page.events[0].details?.requested_user, 'alice');
  });
});
