// One suite, every audit backend: the file backend and PostgreSQL (a fresh schema per test,
// dropped after). Emit durability and chaining, query filters and cursors, verification and
// tampering (one byte changed, an event deleted, two swapped), retention and failure policy.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test, type TestContext } from 'node:test';
import { GENESIS_HASH } from '../../src/audit/chain.js';
import { auditFiles, createFileAuditBackend } from '../../src/audit/file.js';
import { createPostgresAuditBackend } from '../../src/audit/postgres.js';
import type { AuditQuery } from '../../src/audit/query.js';
import type { AuditBackend } from '../../src/audit/reader.js';
import type { AuditEvent } from '../../src/audit/sink.js';
import type { Clock } from '../../src/core/clock.js';
import { dropSchema, freshSchema, PG_URL, requirePostgres, sql } from '../helpers/peers/postgres.js';
import { closedPort } from '../helpers/peers/services.js';

interface OpenOptions {
  clock?: Clock;
  retentionMs?: number;
  onFailure?: 'refuse' | 'log';
}

interface Harness {
  /** Opens the backend over this test's storage (again after close: a restart). */
  open(options?: OpenOptions): AuditBackend;
  /** Rewrites the stored JSON of one event. */
  edit(id: string, change: (json: string) => string): Promise<void>;
  remove(id: string): Promise<void>;
  /** Exchanges the chain positions of two events. */
  swap(a: string, b: string): Promise<void>;
  /** Makes the next writes fail (and, for PostgreSQL, the spool too); returns an undo. */
  breakStorage(): Promise<() => Promise<void>>;
}

const tmp = (prefix: string) => mkdtempSync(join(tmpdir(), prefix));

function fileHarness(t: TestContext): Harness {
  const dir = tmp('gh-audit-contract-');
  const opened: AuditBackend[] = [];
  t.after(async () => {
    for (const b of opened) await b.close().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  });
  const rewrite = (fn: (lines: string[]) => string[]) => {
    for (const file of auditFiles(dir)) {
      const lines = readFileSync(file, 'utf8').split('\n').filter(Boolean);
      writeFileSync(
        file,
        fn(lines)
          .map((l) => `${l}\n`)
          .join(''),
      );
    }
  };
  const has = (id: string) => (line: string) => line.includes(`"id":"${id}"`);
  return {
    open(options = {}) {
      const backend = createFileAuditBackend({ dir, ...options });
      opened.push(backend);
      return backend;
    },
    async edit(id, change) {
      rewrite((lines) => lines.map((l) => (has(id)(l) ? change(l) : l)));
    },
    async remove(id) {
      rewrite((lines) => lines.filter((l) => !has(id)(l)));
    },
    async swap(a, b) {
      rewrite((lines) => {
        const i = lines.findIndex(has(a));
        const j = lines.findIndex(has(b));
        [lines[i], lines[j]] = [lines[j], lines[i]];
        return lines;
      });
    },
    async breakStorage() {
      // The day file being written is moved aside and a directory takes its name: opening it for
      // append fails (the test's clock keeps every write on that day).
      const blocker = auditFiles(dir).at(-1)!;
      renameSync(blocker, `${blocker}.aside`);
      mkdirSync(blocker);
      return async () => {
        rmSync(blocker, { recursive: true, force: true });
        renameSync(`${blocker}.aside`, blocker);
      };
    },
  };
}

function pgHarness(t: TestContext): Harness {
  const schema = freshSchema();
  const spoolRoot = tmp('gh-audit-spool-');
  const opened: AuditBackend[] = [];
  let url = PG_URL;
  let spoolDir = join(spoolRoot, 'spool');
  t.after(async () => {
    for (const b of opened) await b.close().catch(() => undefined);
    await dropSchema(schema);
    rmSync(spoolRoot, { recursive: true, force: true });
  });
  const T = `"${schema}".audit_events`;
  return {
    open(options = {}) {
      const backend = createPostgresAuditBackend({ url, schema, spoolDir, ...options });
      opened.push(backend);
      return backend;
    },
    async edit(id, change) {
      const [row] = await sql<{ doc: string }>(`SELECT doc FROM ${T} WHERE id = $1`, [id]);
      await sql(`UPDATE ${T} SET doc = $2 WHERE id = $1`, [id, change(row.doc)]);
    },
    async remove(id) {
      await sql(`DELETE FROM ${T} WHERE id = $1`, [id]);
    },
    async swap(a, b) {
      await sql(`UPDATE ${T} SET seq = -seq WHERE id IN ($1, $2)`, [a, b]);
      await sql(
        `UPDATE ${T} SET seq = CASE WHEN id = $1 THEN (SELECT -seq FROM ${T} WHERE id = $2) ELSE (SELECT -seq FROM ${T} WHERE id = $1) END
         WHERE id IN ($1, $2)`,
        [a, b],
      );
    },
    async breakStorage() {
      // PostgreSQL unreachable, and the spool under a regular file (ENOTDIR), so nothing can store.
      const saved = { url, spoolDir };
      url = `postgres://postgres@127.0.0.1:${await closedPort()}/test`;
      writeFileSync(join(spoolRoot, 'not-a-dir'), '');
      spoolDir = join(spoolRoot, 'not-a-dir', 'spool');
      return async () => {
        ({ url, spoolDir } = saved);
      };
    },
  };
}

const backends: { name: string; harness: (t: TestContext) => Harness; needsPg: boolean }[] = [
  { name: 'file', harness: fileHarness, needsPg: false },
  { name: 'postgres', harness: pgHarness, needsPg: true },
];

const q = (query: Partial<AuditQuery>): AuditQuery => ({ limit: 50, order: 'desc', ...query });

async function all(backend: AuditBackend, query: Partial<AuditQuery> = {}): Promise<AuditEvent[]> {
  const out: AuditEvent[] = [];
  for await (const item of backend.scan(q({ order: 'asc', ...query }))) out.push(item.event);
  return out;
}

/** A clock that moves forward by `stepMs` at each call. */
const steppingClock = (startIso: string, stepMs: number): Clock => {
  let t = Date.parse(startIso);
  return { now: () => (t += stepMs) };
};

for (const backend of backends) {
  describe(`AuditBackend contract: ${backend.name}`, () => {
    const setUp = async (t: TestContext): Promise<Harness | undefined> => {
      if (backend.needsPg && !(await requirePostgres(t))) return undefined;
      return backend.harness(t);
    };

    test('emit resolves with a chained event carrying the common fields; a restart continues the chain', async (t) => {
      const h = await setUp(t);
      if (!h) return;
      const b = h.open();
      const first = await b.emit({
        type: 'user.login',
        outcome: 'success',
        user: 'alice',
        connector: 'corp',
        roles: ['admin'],
        session_id: 'sess-1',
        context: { remoteAddr: '127.0.0.1', userAgent: 'ua/1', requestId: 'req-12345678' },
      });
      assert.equal(first.prev_hash, GENESIS_HASH);
      assert.match(first.hash, /^[0-9a-f]{64}$/);
      assert.equal(first.code, 'GH1000I');
      assert.match(first.time, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
      assert.match(first.id, /^[0-9a-f-]{36}$/);
      assert.deepEqual(
        {
          user: first.user,
          connector: first.connector,
          roles: first.roles,
          remote_addr: first.remote_addr,
          user_agent: first.user_agent,
          request_id: first.request_id,
        },
        { user: 'alice', connector: 'corp', roles: ['admin'], remote_addr: '127.0.0.1', user_agent: 'ua/1', request_id: 'req-12345678' },
      );
      const burst = await Promise.all(
        Array.from({ length: 300 }, (_, i) => b.emit({ type: 'user.login', outcome: 'failure', reason: `r${i}`, cluster: i % 2 ? 'prod' : undefined })),
      );
      await b.close();

      const again = h.open();
      const stored = await all(again);
      assert.equal(stored.length, 301);
      assert.deepEqual(stored[0], first, 'stored exactly as returned');
      assert.deepEqual(new Set(stored.map((e) => e.id)), new Set([first, ...burst].map((e) => e.id)));
      for (let i = 1; i < stored.length; i++) assert.equal(stored[i].prev_hash, stored[i - 1].hash);
      const next = await again.emit({ type: 'user.logout', outcome: 'success', user: 'alice' });
      assert.equal(next.prev_hash, stored.at(-1)!.hash, 'chain continues after restart');
      const result = await again.verify();
      assert.equal(result.ok, true, JSON.stringify(result.break));
      assert.equal(result.events, 302);
      assert.equal(result.head, next.hash);
      assert.equal(result.anchor, GENESIS_HASH);
    });

    test('filters: time range, exact and prefix types, user, outcome, located fields, text', async (t) => {
      const h = await setUp(t);
      if (!h) return;
      const b = h.open({ clock: steppingClock('2026-03-01T10:00:00.000Z', 60_000) });
      const e1 = await b.emit({ type: 'user.login', outcome: 'success', user: 'alice', session_id: 's-1', context: { userAgent: 'Mozilla/5.0 Firefox' } });
      const e2 = await b.emit({ type: 'user.logout', outcome: 'success', user: 'alice', session_id: 's-1' });
      const e3 = await b.emit({ type: 'user.login', outcome: 'failure', user: 'bob', reason: 'nonce_mismatch' });
      const e4 = await b.emit({ type: 'http.rejected', outcome: 'failure', details: { cluster: 'prod', node: 'web-1', parser_error: 'HPE_HEADER_OVERFLOW' } });
      const e5 = await b.emit({ type: 'audit.read', outcome: 'failure', user: 'bob', cluster: 'staging', app: 'grafana', node: 'web-2' });
      const ids = async (query: Partial<AuditQuery>) => (await all(b, query)).map((e) => e.id);

      assert.deepEqual(
        await ids({}),
        [e1, e2, e3, e4, e5].map((e) => e.id),
      );
      assert.deepEqual(await ids({ types: ['user.login'] }), [e1.id, e3.id]);
      assert.deepEqual(await ids({ types: ['user.*'] }), [e1.id, e2.id, e3.id]);
      assert.deepEqual(await ids({ types: ['user.logout', 'http.*'] }), [e2.id, e4.id]);
      assert.deepEqual(await ids({ types: ['use.*'] }), [], 'a prefix matches whole segments');
      assert.deepEqual(
        await ids({ types: ['*'] }),
        [e1, e2, e3, e4, e5].map((e) => e.id),
      );
      assert.deepEqual(await ids({ user: 'alice' }), [e1.id, e2.id]);
      assert.deepEqual(await ids({ user: 'ALICE' }), [], 'user is exact');
      assert.deepEqual(await ids({ outcome: 'failure' }), [e3.id, e4.id, e5.id]);
      assert.deepEqual(await ids({ session_id: 's-1' }), [e1.id, e2.id]);
      assert.deepEqual(await ids({ cluster: 'prod' }), [e4.id], 'cluster from details');
      assert.deepEqual(await ids({ cluster: 'staging' }), [e5.id], 'cluster at the top level');
      assert.deepEqual(await ids({ node: 'web-1' }), [e4.id]);
      assert.deepEqual(await ids({ app: 'grafana' }), [e5.id]);
      assert.deepEqual(await ids({ q: 'firefox' }), [e1.id], 'text, case-insensitive, in the user agent');
      assert.deepEqual(await ids({ q: 'NONCE_' }), [e3.id], 'text in the reason');
      assert.deepEqual(await ids({ q: 'header_overflow' }), [e4.id], 'text in details');
      assert.deepEqual(await ids({ q: '100%' }), [], 'LIKE wildcards are literal');
      assert.deepEqual(await ids({ from: e2.time, to: e4.time }), [e2.id, e3.id], 'from inclusive, to exclusive');
      assert.deepEqual(await ids({ user: 'bob', outcome: 'failure', types: ['audit.*'] }), [e5.id]);
      assert.deepEqual(await ids({ id: e3.id }), [e3.id]);
      assert.deepEqual(
        (await all(b, { order: 'desc' })).map((e) => e.id),
        [e5, e4, e3, e2, e1].map((e) => e.id),
      );
    });

    test('cursor pages return each event once, in order, and stay stable while events are appended', async (t) => {
      const h = await setUp(t);
      if (!h) return;
      const b = h.open();
      const emitted: AuditEvent[] = [];
      for (let i = 0; i < 5; i++)
        emitted.push(
          ...(await Promise.all(Array.from({ length: 20 }, (_, j) => b.emit({ type: 'user.login', outcome: 'success', user: `u${(i * 20 + j) % 3}` })))),
        );
      const u1 = emitted.filter((e) => e.user === 'u1');

      for (const order of ['asc', 'desc'] as const) {
        const seen: string[] = [];
        let cursor: string | undefined;
        for (let page = 0; ; page++) {
          const res = await b.query(q({ user: 'u1', limit: 7, order, cursor }));
          seen.push(...res.events.map((e) => e.id));
          if (page === 1) {
            // New events appear only ahead of a forward cursor, never inside a backward walk.
            await b.emit({ type: 'user.login', outcome: 'success', user: 'u1' }).then((e) => (order === 'asc' ? u1.push(e) : undefined));
          }
          if (!res.has_more) break;
          assert.equal(res.events.length, 7);
          cursor = res.next_cursor!;
        }
        const expected = order === 'asc' ? u1.map((e) => e.id) : [...u1].reverse().map((e) => e.id);
        assert.deepEqual(seen, expected, `${order}: each once, in order`);
      }
      await assert.rejects(b.query(q({ cursor: 'bm9wZQ' })), { code: 'invalid_cursor' });
      const first = await b.query(q({ limit: 1 }));
      assert.equal(first.events.length, 1);
      assert.equal(first.first_cursor, first.next_cursor);
      const newer = await b.query(q({ order: 'asc', cursor: first.first_cursor! }));
      assert.deepEqual(newer.events, [], 'nothing after the newest');
      const late = await b.emit({ type: 'user.logout', outcome: 'success' });
      assert.deepEqual(
        (await b.query(q({ order: 'asc', cursor: first.first_cursor! }))).events.map((e) => e.id),
        [late.id],
        'tail continues',
      );
    });

    test('verify names the exact event: one byte changed, an event deleted, two events swapped', async (t) => {
      const h = await setUp(t);
      if (!h) return;
      let b = h.open();
      const events: AuditEvent[] = [];
      for (let i = 0; i < 12; i++) events.push(await b.emit({ type: 'user.login', outcome: 'success', user: `u${i}` }));
      assert.equal((await b.verify()).ok, true);
      await b.close();

      await h.edit(events[4].id, (json) => json.replace('"user":"u4"', '"user":"u5"'));
      b = h.open();
      let result = await b.verify();
      assert.equal(result.ok, false);
      assert.equal(result.break?.id, events[4].id);
      assert.equal(result.break?.reason, 'hash_mismatch');
      assert.equal(result.break?.index, 4);
      assert.ok(result.break?.location, 'says where it is stored');
      await b.close();
      await h.edit(events[4].id, (json) => json.replace('"user":"u5"', '"user":"u4"'));

      await h.remove(events[7].id);
      b = h.open();
      result = await b.verify();
      assert.equal(result.break?.id, events[8].id, 'the event after the hole');
      assert.equal(result.break?.reason, 'prev_hash_mismatch');
      assert.equal(result.break?.expected, events[6].hash);
      await b.close();

      const h2 = await setUp(t);
      const b2 = h2!.open();
      const evs: AuditEvent[] = [];
      for (let i = 0; i < 6; i++) evs.push(await b2.emit({ type: 'user.login', outcome: 'success', user: `v${i}` }));
      await b2.close();
      await h2!.swap(evs[2].id, evs[3].id);
      result = await h2!.open().verify();
      assert.equal(result.break?.id, evs[3].id, 'the first event out of place');
      assert.equal(result.break?.reason, 'prev_hash_mismatch');
    });

    test('retention removes old events after recording an anchor; verification stays OK from it', async (t) => {
      const h = await setUp(t);
      if (!h) return;
      let time = Date.parse('2026-01-01T12:00:00.000Z');
      const clock: Clock = { now: () => time };
      const b = h.open({ clock });
      const old = [];
      for (let i = 0; i < 3; i++) old.push(await b.emit({ type: 'user.login', outcome: 'success', user: `old${i}` }));
      time = Date.parse('2026-01-05T12:00:00.000Z');
      const recent = await b.emit({ type: 'user.login', outcome: 'success', user: 'recent' });
      await b.close();

      const pruning = h.open({ clock, retentionMs: 2 * 86_400_000 });
      await pruning.prune();
      const left = await all(pruning);
      assert.deepEqual(
        left.map((e) => e.user ?? e.type),
        ['recent', 'audit.pruned'],
      );
      const pruned = left[1];
      assert.equal(pruned.details?.anchor, old[2].hash, 'anchor = hash of the last removed event');
      const result = await pruning.verify();
      assert.equal(result.ok, true, JSON.stringify(result.break));
      assert.equal(result.anchor, old[2].hash);
      await pruning.close();

      // Removing more from the start is detected: no retention record explains the new start.
      await h.remove(recent.id);
      const after = await h.open({ clock }).verify();
      assert.equal(after.ok, false);
      assert.equal(after.break?.reason, 'unanchored_start');
      assert.equal(after.break?.id, pruned.id);
    });

    test('when nothing can store an event: refuse rejects the emit; log lets it through unchained', async (t) => {
      const h = await setUp(t);
      if (!h) return;
      const clock: Clock = { now: () => Date.parse('2026-02-01T12:00:00.000Z') };
      const ok = h.open({ clock });
      const before = await ok.emit({ type: 'user.login', outcome: 'success', user: 'a' });
      await ok.close();
      const undo = await h.breakStorage();
      const refusing = h.open({ onFailure: 'refuse', clock });
      await assert.rejects(refusing.emit({ type: 'user.login', outcome: 'success', user: 'b' }), { code: 'audit_unavailable', status: 503 });
      const status = await refusing.status();
      assert.equal(status.ready, false, status.detail);
      await refusing.close();
      const logging = h.open({ onFailure: 'log', clock });
      const logged = await logging.emit({ type: 'user.login', outcome: 'success', user: 'c' });
      assert.equal(logged.hash, '', 'not in the chain');
      await logging.close();
      await undo();
      const healed = h.open({ clock });
      const next = await healed.emit({ type: 'user.login', outcome: 'success', user: 'd' });
      assert.equal(next.prev_hash, before.hash, 'the chain has no hole');
      assert.deepEqual(
        (await all(healed)).map((e) => e.user),
        ['a', 'd'],
      );
      assert.equal((await healed.verify()).ok, true);
    });
  });
}
