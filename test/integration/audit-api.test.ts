// The audit API, the pages' permissions and the `gatehouse audit` CLI against a real gateway
// (file backend). Callers use gateway tokens minted by the gateway's own issuer, as the CLI does.
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { auditFiles } from '../../src/audit/file.js';
import type { AuditPage } from '../../src/audit/reader.js';
import type { AuditEvent } from '../../src/audit/sink.js';
import { eventually } from '../helpers/eventually.js';
import { startGateway, type TestGateway } from '../helpers/gateways/gateway.js';
import { runChild, startChild } from '../helpers/processes.js';

const REPO = fileURLToPath(new URL('../..', import.meta.url));

const config = {
  connectors: [{ type: 'demo', id: 'demo', users: [{ username: 'alice', password: 'unused-pw', email: 'alice@example.com', groups: ['auditors'] }] }], // secret-scan: allow
  roles: [{ name: 'auditor', audit: 'read' }, { name: 'dev' }],
  mappings: [
    { match: { claim: 'groups', value: 'auditors' }, roles: ['auditor'] },
    { match: { claim: 'groups', value: 'devs' }, roles: ['dev'] },
  ],
};

let gw: TestGateway;
let aliceToken: string;
let bobToken: string;
const seeded: AuditEvent[] = [];

const token = (username: string, groups: string[]) =>
  gw.gateway.issuer.mint({ subject: `demo:${username}`, audience: 'gatehouse', claims: { preferred_username: username, groups, connector: 'demo' } });

async function get(path: string, bearer?: string, headers: Record<string, string> = {}) {
  const res = await fetch(`${gw.url}${path}`, { headers: { ...(bearer ? { authorization: `Bearer ${bearer}` } : {}), ...headers } });
  return { status: res.status, type: res.headers.get('content-type') ?? '', text: await res.text() };
}
const json = async <T = Record<string, unknown>>(path: string, bearer?: string) => {
  const res = await get(path, bearer);
  return { status: res.status, body: JSON.parse(res.text) as T };
};

/** Every event a caller can page through for a query. */
async function pageAll(bearer: string, params: string): Promise<AuditEvent[]> {
  const out: AuditEvent[] = [];
  let cursor = '';
  for (;;) {
    const { status, body } = await json<AuditPage>(`/api/v1/audit/events?${params}&limit=4${cursor ? `&cursor=${cursor}` : ''}`, bearer);
    assert.equal(status, 200);
    out.push(...body.events);
    if (!body.has_more) return out;
    cursor = body.next_cursor!;
  }
}

before(async () => {
  gw = await startGateway(config);
  aliceToken = await token('alice', ['auditors']);
  bobToken = await token('bob', ['devs']);
  const users = ['alice', 'bob', 'carol', 'bob', 'alice', 'bob'];
  for (const [i, user] of users.entries()) {
    seeded.push(
      await gw.gateway.audit.emit({
        type: i % 2 ? 'user.logout' : 'user.login',
        outcome: i === 2 ? 'failure' : 'success',
        user,
        details: { note: `seed ${i} about alice` },
      }),
    );
  }
});
after(() => gw.stop());

describe('audit API', () => {
  test('needs a principal', async () => {
    const res = await json('/api/v1/audit/events');
    assert.equal(res.status, 401);
    assert.equal(res.body.error, 'unauthenticated');
    const bad = await json('/api/v1/audit/events', 'not-a-token');
    assert.equal(bad.status, 401);
    assert.equal(bad.body.error, 'invalid_token');
  });

  test('an auditor sees every event, filtered on the server, newest first, with stable cursors', async () => {
    const { status, body } = await json<AuditPage>('/api/v1/audit/events', aliceToken);
    assert.equal(status, 200);
    const ids = seeded.map((e) => e.id).reverse();
    assert.deepEqual(
      body.events.map((e) => e.id).filter((id) => ids.includes(id)),
      ids,
    );
    const bobs = await pageAll(aliceToken, 'user=bob&order=asc');
    assert.deepEqual(
      bobs.map((e) => e.id),
      seeded.filter((e) => e.user === 'bob').map((e) => e.id),
    );
    const failures = await json<AuditPage>('/api/v1/audit/events?outcome=failure&type=user.*', aliceToken);
    assert.deepEqual(
      failures.body.events.map((e) => e.user),
      ['carol'],
    );
    const one = await json<AuditEvent>(`/api/v1/audit/events/${seeded[2].id}`, aliceToken);
    assert.deepEqual(one.body, seeded[2]);
  });

  test('a non-auditor sees only their own events, enforced in the query (pages, text search, by id)', async () => {
    const mine = await pageAll(bobToken, 'order=asc');
    assert.deepEqual(
      mine.map((e) => e.id),
      seeded.filter((e) => e.user === 'bob').map((e) => e.id),
    );
    const text = await pageAll(bobToken, 'q=alice');
    assert.ok(text.length > 0 && text.every((e) => e.user === 'bob'), 'text search stays within their events');
    const own = await pageAll(bobToken, 'user=bob');
    assert.equal(own.length, 3);
    const other = await json(`/api/v1/audit/events/${seeded[0].id}`, bobToken);
    assert.equal(other.status, 404, "someone else's event does not exist for them");
    const exported = await get('/api/v1/audit/events?format=ndjson', bobToken);
    assert.ok(
      exported.text
        .trim()
        .split('\n')
        .every((l) => (JSON.parse(l) as AuditEvent).user === 'bob'),
    );
  });

  test("asking for someone else's events or the chain is refused with 403 and audited", async () => {
    const res = await json('/api/v1/audit/events?user=alice', bobToken);
    assert.equal(res.status, 403);
    assert.equal(res.body.error, 'audit_forbidden');
    const event = await gw.waitForEvent((e) => e.type === 'audit.read' && e.user === 'bob' && e.details?.requested_user === 'alice');
    assert.equal(event.outcome, 'failure');
    assert.equal(event.code, 'GH8021W');
    assert.equal(event.reason, 'audit_forbidden');
    const verify = await json('/api/v1/audit/verify', bobToken);
    assert.equal(verify.status, 403);
    assert.equal(verify.body.error, 'audit_forbidden');
    await gw.waitForEvent((e) => e.type === 'audit.read' && e.user === 'bob' && e.details?.attempted === 'verify');
  });

  test('bad filters and cursors are 400 with a stable code', async () => {
    for (const [query, code] of [
      ['from=yesterday', 'invalid_query'],
      ['type=User.Login', 'invalid_query'],
      ['outcome=maybe', 'invalid_query'],
      ['limit=0', 'invalid_query'],
      ['limit=5000', 'invalid_query'],
      ['order=sideways', 'invalid_query'],
      ['user=a%0Ab', 'invalid_query'],
      ['format=xml', 'invalid_query'],
      ['from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z', 'invalid_query'],
      ['cursor=bm9wZQ', 'invalid_cursor'],
      ['cursor=%25%25', 'invalid_query'],
    ] as const) {
      const res = await json(`/api/v1/audit/events?${query}`, aliceToken);
      assert.equal(res.status, 400, query);
      assert.equal(res.body.error, code, query);
    }
  });

  test('exports stream as NDJSON (Accept or format) and CSV', async () => {
    const nd = await get('/api/v1/audit/events?order=asc', aliceToken, { accept: 'application/x-ndjson' });
    assert.equal(nd.status, 200);
    assert.match(nd.type, /^application\/x-ndjson/);
    const lines = nd.text
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as AuditEvent);
    assert.deepEqual(lines.slice(0, seeded.length), seeded);
    const limited = await get('/api/v1/audit/events?format=ndjson&limit=2', aliceToken);
    assert.equal(limited.text.trim().split('\n').length, 2);
    const csv = await get('/api/v1/audit/events?format=csv&user=carol', aliceToken);
    assert.equal(csv.status, 200);
    assert.match(csv.type, /^text\/csv/);
    const rows = csv.text.trim().split('\r\n');
    assert.equal(rows[0].split(',')[0], 'id');
    assert.equal(rows.length, 2);
    assert.ok(rows[1].startsWith(`${seeded[2].id},${seeded[2].time},user.login,GH1001W,failure,carol`));
  });

  test('verify reports OK; /readyz reports the audit backend', async () => {
    const res = await json<{ ok: boolean; events: number; backend: string }>('/api/v1/audit/verify', aliceToken);
    assert.equal(res.status, 200);
    assert.equal(res.body.ok, true);
    assert.equal(res.body.backend, 'file');
    assert.ok(res.body.events >= seeded.length);
    const ready = await json<{ ready: boolean; checks: Record<string, string> }>('/readyz');
    assert.equal(ready.status, 200);
    assert.equal(ready.body.checks.audit, 'ok');
  });

  test("pages: a non-auditor sees only their rows; another user's filter is 403, their event 404", async () => {
    const page = await get('/audit', bobToken);
    assert.equal(page.status, 200);
    const users = [...page.text.matchAll(/<td class="user">([^<]*)<\/td>/g)].map((m) => m[1]);
    assert.deepEqual(users, ['bob', 'bob', 'bob', 'bob', 'bob'].slice(0, users.length));
    assert.ok(users.length >= 3);
    const forbidden = await get('/audit?user=alice', bobToken, { accept: 'text/html' });
    assert.equal(forbidden.status, 403);
    assert.match(forbidden.text, /id="error-code">audit_forbidden</);
    const detail = await get(`/audit/${seeded[0].id}`, bobToken, { accept: 'text/html' });
    assert.equal(detail.status, 404);
    const own = await get(`/audit/${seeded[1].id}`, bobToken);
    assert.equal(own.status, 200);
    assert.match(own.text, new RegExp(`id="event-id">${seeded[1].id}<`));
    const stranger = await fetch(`${gw.url}/audit?type=user.*`, { redirect: 'manual' });
    assert.equal(stranger.status, 302);
    assert.equal(stranger.headers.get('location'), `/login?return_to=${encodeURIComponent('/audit?type=user.*')}`);
  });
});

/** Runs the real CLI; resolves with its exit code and output. */
function cli(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return runChild(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'audit', ...args], { cwd: REPO, env: { ...process.env, ...env } });
}

describe('gatehouse audit CLI', () => {
  const creds = () => ['--server', gw.url, '--token', aliceToken];

  test('search --json with filters; human output; errors from the server', async () => {
    const res = await cli(['search', ...creds(), '--user', 'bob', '--type', 'user.*', '--order', 'asc', '--json']);
    assert.equal(res.code, 0, res.stderr);
    const page = JSON.parse(res.stdout) as AuditPage;
    assert.deepEqual(
      page.events.map((e) => e.id),
      seeded.filter((e) => e.user === 'bob').map((e) => e.id),
    );
    const human = await cli(['search', '--type', 'user.login', '--outcome', 'failure', '--from', '1h'], {
      GATEHOUSE_SERVER: gw.url,
      GATEHOUSE_TOKEN: aliceToken,
    });
    assert.equal(human.code, 0, human.stderr);
    assert.match(human.stdout, new RegExp(`user\\.login\\s+failure\\s+carol .*${seeded[2].id}`));
    const refused = await cli(['search', '--server', gw.url, '--token', bobToken, '--user', 'alice']);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /audit_forbidden/);
  });

  test('export --format csv and ndjson to stdout', async () => {
    const csv = await cli(['export', ...creds(), '--format', 'csv', '--user', 'carol']);
    assert.equal(csv.code, 0, csv.stderr);
    assert.equal(csv.stdout.trim().split('\r\n').length, 2);
    const nd = await cli(['export', ...creds(), '--user', 'alice', '--type', 'user.login']);
    assert.deepEqual(
      nd.stdout
        .trim()
        .split('\n')
        .map((l) => (JSON.parse(l) as AuditEvent).id),
      seeded.filter((e) => e.user === 'alice' && e.type === 'user.login').map((e) => e.id),
    );
  });

  test('verify online, and offline over the directory; a changed byte names the event', async () => {
    const online = await cli(['verify', ...creds()]);
    assert.equal(online.code, 0, online.stderr);
    assert.match(online.stdout, /^OK: \d+ events, chain intact/);
    const copy = mkdtempSync(join(tmpdir(), 'gh-audit-cli-'));
    try {
      cpSync(join(gw.dataDir, 'audit'), copy, { recursive: true });
      const offline = await cli(['verify', '--dir', copy]);
      assert.equal(offline.code, 0, offline.stderr);
      const [file] = auditFiles(copy);
      writeFileSync(file, readFileSync(file, 'utf8').replace('"note":"seed 3 about alice"', '"note":"seed 3 about alicf"'));
      const broken = await cli(['verify', '--dir', copy, '--json']);
      assert.equal(broken.code, 1);
      const result = JSON.parse(broken.stdout) as { ok: boolean; break: { id: string; reason: string; location: string } };
      assert.equal(result.break.id, seeded[3].id);
      assert.equal(result.break.reason, 'hash_mismatch');
      assert.match(result.break.location, /^audit-\d{4}-\d{2}-\d{2}\.jsonl:4$/);
    } finally {
      rmSync(copy, { recursive: true, force: true });
    }
  });

  test('tail -f prints the newest events, then new ones as they are written', async () => {
    const tail = startChild(
      process.execPath,
      ['--import', 'tsx', 'src/cli/main.ts', 'audit', 'tail', '-f', '--interval', '200ms', '--limit', '3', '--json', ...creds()],
      { cwd: REPO },
    );
    let out = '';
    tail.child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
    const waitFor = async (predicate: () => boolean) => {
      await eventually(predicate, { timeoutMs: 15_000, message: () => `tail output so far:\n${out}` });
      assert.ok(predicate(), `tail output so far:\n${out}`);
    };
    try {
      await waitFor(() => out.split('\n').filter(Boolean).length >= 3);
      const fresh = await gw.gateway.audit.emit({ type: 'user.logout', outcome: 'success', user: 'dave' });
      await waitFor(() => out.includes(fresh.id));
      const lines = out
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as AuditEvent);
      assert.equal(lines.at(-1)!.id, fresh.id);
      assert.equal(new Set(lines.map((e) => e.id)).size, lines.length, 'no event printed twice');
    } finally {
      await tail.stop();
    }
  });
});
