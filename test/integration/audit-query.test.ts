// Query correctness at size: generated events in each backend (10,000 by default; AUDIT_QUERY_EVENTS
// raises it, e.g. to 50,000 before a release); random filter combinations compared with a
// brute-force filter written here (independently of src/audit/query.ts) over the same events;
// cursor pagination must return each match exactly once, in order.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test, type TestContext } from 'node:test';
import { createFileAuditBackend } from '../../src/audit/file.js';
import { createPostgresAuditBackend } from '../../src/audit/postgres.js';
import type { AuditQuery } from '../../src/audit/query.js';
import type { AuditBackend } from '../../src/audit/reader.js';
import type { AuditEvent, AuditInput } from '../../src/audit/sink.js';
import { dropSchema, freshSchema, PG_URL, requirePostgres } from '../helpers/peers/postgres.js';

const EVENTS = Number(process.env.AUDIT_QUERY_EVENTS ?? 10_000);
const COMBINATIONS = 20;
const SEED = Number(process.env.AUDIT_QUERY_SEED ?? Date.now() % 1_000_000);

/** mulberry32: a small seeded PRNG, so a failure can be replayed with AUDIT_QUERY_SEED. */
function prng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n: number) => Math.floor(next() * n);
  const pick = <T>(items: readonly T[]): T => items[int(items.length)];
  const maybe = (p: number) => next() < p;
  return { next, int, pick, maybe };
}

const TYPES = ['user.login', 'user.logout', 'http.rejected', 'audit.read', 'audit.recovered'] as const;
const USERS = Array.from({ length: 25 }, (_, i) => `user${i}`).concat(['Zoë', "o'brien", 'a"quote']);
const CLUSTERS = ['prod', 'staging', 'dev-eu', 'dev_us'];
const NODES = Array.from({ length: 12 }, (_, i) => `node-${i}`);
const APPS = ['grafana', 'wiki', 'Kibana'];
const WORDS = ['alpha', 'Bravo', 'charlie', 'DELTA', 'echo', 'foxtrot', 'golf', '100%', 'under_score', 'Ünïcode', 'back\\slash'];
const AGENTS = ['Mozilla/5.0 (X11; Linux) Firefox/128.0', 'kubectl/v1.30.0', 'curl/8.5.0', 'gatehouse-cli/0.1'];
const START = Date.parse('2026-05-01T00:00:00.000Z');
const SPAN = 5 * 86_400_000;

function generate(rand: ReturnType<typeof prng>): AuditInput {
  const words = () => Array.from({ length: 1 + rand.int(3) }, () => rand.pick(WORDS)).join(' ');
  const details: Record<string, unknown> = { note: words(), n: rand.int(1000) };
  const input: AuditInput = {
    type: rand.pick(TYPES),
    outcome: rand.maybe(0.3) ? 'failure' : 'success',
    user: rand.maybe(0.9) ? rand.pick(USERS) : undefined,
    connector: rand.maybe(0.5) ? 'corp' : undefined,
    session_id: rand.maybe(0.5) ? `s${rand.int(300)}` : undefined,
    reason: rand.maybe(0.3) ? rand.pick(['nonce_mismatch', 'state_mismatch', 'rate_limited']) : undefined,
    context: { remoteAddr: `10.0.${rand.int(4)}.${rand.int(255)}`, userAgent: rand.pick(AGENTS), requestId: `req-${rand.int(1e9)}` },
    details,
  };
  // Located fields live at the top level or (older emitters) in details.
  const place = (key: 'cluster' | 'node' | 'app', value: string) => (rand.maybe(0.5) ? (input[key] = value) : (details[key] = value));
  if (rand.maybe(0.4)) place('cluster', rand.pick(CLUSTERS));
  if (rand.maybe(0.3)) place('node', rand.pick(NODES));
  if (rand.maybe(0.2)) place('app', rand.pick(APPS));
  return input;
}

// --- the brute force: plain, obvious, independent --------------------------------------------

function values(node: unknown, out: string[] = []): string[] {
  if (typeof node === 'string') out.push(node);
  else if (typeof node === 'number' || typeof node === 'boolean') out.push(String(node));
  else if (Array.isArray(node)) for (const v of node) values(v, out);
  else if (node && typeof node === 'object') for (const v of Object.values(node)) values(v, out);
  return out;
}

function bruteForce(events: AuditEvent[], q: AuditQuery): AuditEvent[] {
  return events.filter((e) => {
    const t = new Date(e.time).getTime();
    if (q.from && t < new Date(q.from).getTime()) return false;
    if (q.to && t >= new Date(q.to).getTime()) return false;
    if (q.types && !q.types.some((ty) => (ty.endsWith('.*') ? e.type.startsWith(ty.slice(0, -1)) : e.type === ty))) return false;
    if (q.user !== undefined && e.user !== q.user) return false;
    if (q.outcome && e.outcome !== q.outcome) return false;
    for (const key of ['session_id', 'cluster', 'node', 'app'] as const) {
      if (q[key] === undefined) continue;
      const v = e[key] ?? (e.details?.[key] as string | undefined);
      if (v !== q[key]) return false;
    }
    if (q.q) {
      const { hash: _h, prev_hash: _p, ...rest } = e;
      if (!values(rest).some((v) => v.toLowerCase().includes(q.q!.toLowerCase()))) return false;
    }
    return true;
  });
}

function randomQuery(rand: ReturnType<typeof prng>, events: AuditEvent[]): AuditQuery {
  const q: AuditQuery = { limit: 50, order: 'asc' };
  if (rand.maybe(0.4)) {
    const a = START + rand.int(SPAN);
    const b = a + rand.int(SPAN / 2);
    q.from = new Date(a).toISOString();
    if (rand.maybe(0.7)) q.to = new Date(b).toISOString();
  }
  if (rand.maybe(0.4)) q.types = Array.from({ length: 1 + rand.int(2) }, () => rand.pick([...TYPES, 'user.*', 'audit.*', 'http.*']));
  if (rand.maybe(0.35)) q.user = rand.pick(USERS);
  if (rand.maybe(0.3)) q.outcome = rand.pick(['success', 'failure'] as const);
  if (rand.maybe(0.15)) q.session_id = `s${rand.int(300)}`;
  if (rand.maybe(0.2)) q.cluster = rand.pick(CLUSTERS);
  if (rand.maybe(0.15)) q.node = rand.pick(NODES);
  if (rand.maybe(0.15)) q.app = rand.pick(APPS);
  if (rand.maybe(0.3)) {
    // A piece of a real value, in random case.
    const source = values(rand.pick(events).details)
      .concat(AGENTS)
      .filter((v) => v.length > 2);
    const v = rand.pick(source);
    const start = rand.int(v.length - 2);
    const piece = v.slice(start, start + 2 + rand.int(6));
    q.q = rand.maybe(0.5) ? piece.toUpperCase() : piece;
  }
  return q;
}

async function scanIds(b: AuditBackend, q: AuditQuery): Promise<string[]> {
  const ids: string[] = [];
  for await (const { event } of b.scan(q)) ids.push(event.id);
  return ids;
}

async function pagedIds(b: AuditBackend, q: AuditQuery, limit: number): Promise<string[]> {
  const ids: string[] = [];
  let cursor: string | undefined;
  for (;;) {
    const page = await b.query({ ...q, limit, cursor });
    assert.ok(page.events.length <= limit);
    ids.push(...page.events.map((e) => e.id));
    if (!page.has_more) return ids;
    assert.equal(page.events.length, limit, 'only the last page is short');
    cursor = page.next_cursor!;
  }
}

const backends = [
  {
    name: 'file',
    open: async (t: TestContext, now: () => Date) => {
      const dir = mkdtempSync(join(tmpdir(), 'gh-audit-query-'));
      const b = createFileAuditBackend({ dir, clock: { now: () => now().getTime() } });
      t.after(async () => {
        await b.close();
        rmSync(dir, { recursive: true, force: true });
      });
      return b;
    },
  },
  {
    name: 'postgres',
    open: async (t: TestContext, now: () => Date) => {
      if (!(await requirePostgres(t))) return undefined;
      const schema = freshSchema('audit_query');
      const spool = mkdtempSync(join(tmpdir(), 'gh-audit-query-spool-'));
      const b = createPostgresAuditBackend({ url: PG_URL, schema, spoolDir: spool, clock: { now: () => now().getTime() } });
      t.after(async () => {
        await b.close();
        await dropSchema(schema);
        rmSync(spool, { recursive: true, force: true });
      });
      return b;
    },
  },
];

describe(`audit query correctness (${EVENTS} events, seed ${SEED})`, () => {
  for (const backend of backends) {
    test(`${backend.name}: random filters match brute force; pages return each event once`, { timeout: 300_000 }, async (t) => {
      let clock = START;
      const b = await backend.open(t, () => new Date((clock += Math.floor(SPAN / EVENTS))));
      if (!b) return;
      const rand = prng(SEED);
      const events: AuditEvent[] = [];
      for (let i = 0; i < EVENTS; i += 5000) {
        events.push(...(await Promise.all(Array.from({ length: Math.min(5000, EVENTS - i) }, () => b.emit(generate(rand))))));
      }
      const all = await scanIds(b, { limit: 1, order: 'asc' });
      assert.deepEqual(
        all,
        events.map((e) => e.id),
        'stored in emit order',
      );

      let nonEmpty = 0;
      for (let i = 0; i < COMBINATIONS; i++) {
        const q = randomQuery(rand, events);
        const expected = bruteForce(events, q).map((e) => e.id);
        if (expected.length) nonEmpty++;
        const label = `seed ${SEED}, query ${JSON.stringify(q)}`;
        assert.deepEqual(await scanIds(b, q), expected, `asc scan: ${label}`);
        if (i % 2 === 0) {
          // Paged both ways with a size that keeps page counts modest.
          const limit = Math.max(1, Math.min(1000, Math.ceil(expected.length / (5 + rand.int(20)))));
          const asc = await pagedIds(b, q, limit);
          assert.deepEqual(asc, expected, `asc pages of ${limit}: ${label}`);
          const desc = await pagedIds(b, { ...q, order: 'desc' }, limit);
          assert.deepEqual(desc, [...expected].reverse(), `desc pages of ${limit}: ${label}`);
          assert.equal(new Set(desc).size, desc.length, 'no event twice');
        }
      }
      assert.ok(nonEmpty >= COMBINATIONS / 3, `most random queries should match something (${nonEmpty}/${COMBINATIONS})`);
    });
  }
});
