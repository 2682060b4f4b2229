import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import type { AuditEvent } from '../../../src/audit/sink.js';
import { eventually } from '../../helpers/eventually.js';
import { startDbGateway, type DbGateway } from '../../helpers/gateways/db.js';
import { sql } from '../../helpers/peers/postgres.js';
import { runChild, startRun } from '../../helpers/processes.js';

const REPO = fileURLToPath(new URL('../../..', import.meta.url));

describe('PostgreSQL through the db listener: psql and node-postgres, per-statement audit, transcript, cancel, revocation', () => {
  let g: DbGateway | undefined;
  let recordings: string;
  before(async (t) => {
    recordings = mkdtempSync(join(tmpdir(), 'gatehouse-db-rec-'));
    g = await startDbGateway(t as never, { recordings: { dir: recordings } });
  });
  after(async () => {
    await g?.stop();
    rmSync(recordings, { recursive: true, force: true });
  });

  const psql = (conninfo: string, args: string[], timeoutMs = 30_000) =>
    runChild('psql', [conninfo, '-X', '-A', '-t', '-v', 'ON_ERROR_STOP=1', ...args], { timeoutMs, env: { ...process.env, PGCONNECT_TIMEOUT: '10' } });
  const dbEvents = (session?: string) => g!.gw.auditEvents().filter((e) => e.type.startsWith('db.') && (!session || e.session_id === session));
  const endOf = (session: string) => g!.gw.waitForEvent((e) => e.type === 'db.session.end' && e.session_id === session, 10_000);

  test('psql runs queries as the requested db user; each statement is one db.query, in order, and the end has bytes and a count', async () => {
    if (!g) return;
    const c = await g.credentials('alice', ['dba']);
    const app = `gh_order_${process.pid}`;
    const r = await psql(`${c.conninfo('postgres', 'test')} application_name=${app}`, [
      '-c',
      "SELECT current_user, current_database(); SELECT 'two'",
      '-c',
      'SELECT 3',
      '-c',
      "SELECT length(repeat('x', 10000)) -- a comment",
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.stdout.trim().split('\n'), ['postgres|test', 'two', '3', '10000']);
    const start = dbEvents().find((e) => e.type === 'db.session.start' && e.outcome === 'success' && e.user === 'alice')!;
    assert.ok(start, 'db.session.start');
    assert.equal(start.details?.database, 'main-pg');
    assert.equal(start.details?.db_user, 'postgres');
    const end = await endOf(start.session_id!);
    const queries = dbEvents(start.session_id).filter((e) => e.type === 'db.query');
    assert.deepEqual(
      queries.map((e) => e.details?.statement),
      ['SELECT current_user, current_database()', "SELECT 'two'", 'SELECT 3', "SELECT length(repeat('x', 10000)) -- a comment"],
    );
    assert.deepEqual(
      queries.map((e) => e.details?.sequence),
      [1, 2, 3, 4],
    );
    assert.equal(end.details?.statements, 4);
    assert.ok((end.details?.bytes_from_client as number) > 0 && (end.details?.bytes_from_server as number) > 0);
    assert.equal(typeof end.details?.duration_ms, 'number');
  });

  test('node-postgres: extended-protocol statements are audited with their parameters; long text is cut and marked', async () => {
    if (!g) return;
    const c = await g.credentials('alice', ['dba']);
    const client = new pg.Client({
      host: '127.0.0.1',
      port: g.port,
      user: 'postgres',
      database: 'test',
      ssl: { ca: readFileSync(c.ca, 'utf8'), cert: readFileSync(c.cert, 'utf8'), key: readFileSync(c.key, 'utf8') },
    });
    await client.connect();
    const long = 'y'.repeat(5000);
    try {
      const res = await client.query('SELECT $1::int + $2::int AS sum, $3::text AS t, $4::text IS NULL AS n', [1, 2, 'héllo', null]);
      assert.deepEqual(res.rows, [{ sum: 3, t: 'héllo', n: true }]);
      await client.query({ name: 'len', text: 'SELECT length($1::text) AS l', values: [long] });
      const again = await client.query({ name: 'len', text: 'SELECT length($1::text) AS l', values: ['abc'] });
      assert.equal(again.rows[0].l, 3);
    } finally {
      await client.end();
    }
    const start = [...dbEvents()].reverse().find((e) => e.type === 'db.session.start' && e.outcome === 'success')!;
    await endOf(start.session_id!);
    const queries = dbEvents(start.session_id).filter((e) => e.type === 'db.query');
    assert.equal(queries.length, 3);
    assert.equal(queries[0].details?.query_protocol, 'extended');
    assert.equal(queries[0].details?.statement, 'SELECT $1::int + $2::int AS sum, $3::text AS t, $4::text IS NULL AS n');
    assert.deepEqual(queries[0].details?.parameters, [{ value: '1' }, { value: '2' }, { value: 'héllo' }, { value: null }]);
    const cut = (queries[1].details?.parameters as { value: string; cut?: boolean }[])[0];
    assert.equal(cut.cut, true);
    assert.equal(cut.value.length, 4096);
    assert.equal(queries[2].details?.prepared, 'len');
    assert.deepEqual(queries[2].details?.parameters, [{ value: 'abc' }]);
  });

  test('a statement longer than max_query_chars is cut in its event and marked', async () => {
    if (!g) return;
    const c = await g.credentials('alice', ['dba']);
    const text = `SELECT '${'z'.repeat(6000)}' IS NOT NULL`;
    const r = await psql(c.conninfo('postgres', 'test'), ['-c', text]);
    assert.equal(r.code, 0, r.stderr);
    const event = await g.gw.waitForEvent((e) => e.type === 'db.query' && String(e.details?.statement).startsWith("SELECT 'zzz"));
    assert.equal(event.details?.cut, true);
    assert.equal((event.details?.statement as string).length, 4096);
  });

  test('the session replays as a transcript: gatehouse play and the recordings API', async () => {
    if (!g) return;
    const c = await g.credentials('alice', ['dba']);
    const r = await psql(c.conninfo('postgres', 'test'), ['-c', "SELECT 'replay me'", '-c', 'SELECT * FROM no_such_table']);
    assert.notEqual(r.code, 0); // the second statement fails
    const start = [...dbEvents()].reverse().find((e) => e.type === 'db.session.start' && e.outcome === 'success')!;
    await endOf(start.session_id!);
    const token = await g.token('alice', ['dba']);
    const res = await fetch(`${g.gw.url}/api/v1/recordings/${start.session_id}`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(res.status, 200);
    const cast = (await res.text()).trim().split('\n');
    assert.equal(JSON.parse(cast[0]).version, 2);
    const output = cast
      .slice(1)
      .map((l) => JSON.parse(l) as [number, string, string])
      .map((e) => e[2])
      .join('');
    assert.match(output, /test=> SELECT 'replay me'\r\n-- SELECT 1\r\n/);
    assert.match(output, /test=> SELECT \* FROM no_such_table\r\n-- ERROR: relation "no_such_table" does not exist \(SQLSTATE 42P01\)/);
    const play = await runChild(process.execPath, ['--import', 'tsx', join(REPO, 'src/cli/main.ts'), 'play', start.session_id!, '--print-schedule'], {
      env: { ...process.env, GATEHOUSE_SERVER: g.gw.url, GATEHOUSE_TOKEN: token },
      timeoutMs: 60_000,
    });
    assert.equal(play.code, 0, play.stderr);
    assert.match(play.stdout, /replay me/);
    const list = (await (await fetch(`${g.gw.url}/api/v1/recordings?node=main-pg`, { headers: { authorization: `Bearer ${token}` } })).json()) as {
      recordings: { id: string; login: string }[];
    };
    assert.ok(list.recordings.some((m) => m.id === start.session_id && m.login === 'postgres'));
  });

  test("Ctrl-C in psql (a cancel request) cancels that session's query only (forged keys: refusals.test.ts)", async () => {
    if (!g) return;
    const c = await g.credentials('alice', ['dba']);
    const app = `gh_cancel_${process.pid}`;
    const a = startRun('psql', [`${c.conninfo('postgres', 'test')} application_name=${app}_a`, '-X', '-c', 'SELECT pg_sleep(60)'], { timeoutMs: 60_000 });
    const b = startRun(
      'psql',
      [`${c.conninfo('postgres', 'test')} application_name=${app}_b`, '-X', '-A', '-t', '-c', 'SELECT pg_sleep(3)', '-c', "SELECT 'b done'"],
      {
        timeoutMs: 60_000,
      },
    );
    const sleeping = () =>
      sql<{ n: string }>(
        `SELECT count(*) AS n FROM pg_stat_activity WHERE application_name LIKE '${app}_%' AND query LIKE 'SELECT pg_sleep%' AND state = 'active'`,
      );
    await eventually(async () => Number((await sleeping())[0].n) === 2, { timeoutMs: 20_000, message: 'both sleeps running' });
    a.child.kill('SIGINT');
    const [ra, rb] = await Promise.all([a.done, b.done]);
    assert.match(ra.stderr, /canceling statement due to user request/);
    assert.equal(rb.code, 0, rb.stderr);
    assert.match(rb.stdout, /b done/);
    const cancel = await g.gw.waitForEvent((e) => e.type === 'db.cancel' && e.outcome === 'success');
    assert.equal(cancel.user, 'alice');
  });

  test('revoking the person ends their open psql session, and their certificate is refused from then on', async () => {
    if (!g) return;
    const c = await g.credentials('carol', ['dba']);
    const app = `gh_revoke_${process.pid}`;
    const open = startRun('psql', [`${c.conninfo('postgres', 'test')} application_name=${app}`, '-X', '-c', 'SELECT pg_sleep(60)'], { timeoutMs: 60_000 });
    await eventually(async () => (await sql(`SELECT 1 FROM pg_stat_activity WHERE application_name = '${app}' AND state = 'active'`)).length === 1, {
      timeoutMs: 20_000,
      message: 'the session is running',
    });
    const res = await fetch(`${g.gw.url}/api/v1/ssh/certs/revoke`, {
      method: 'POST',
      headers: { authorization: `Bearer ${await g.token('carol', ['dba'])}`, 'content-type': 'application/json' },
      body: JSON.stringify({ user: 'carol' }),
    });
    assert.equal(res.status, 200);
    const ended = await open.done;
    assert.notEqual(ended.code, 0);
    assert.match(ended.stderr, /revoked/);
    const end = await g.gw.waitForEvent((e: AuditEvent) => e.type === 'db.session.end' && e.user === 'carol');
    assert.equal(end.details?.ended_by, 'revoked');
    // The server's side of the session is gone too.
    await eventually(async () => (await sql(`SELECT 1 FROM pg_stat_activity WHERE application_name = '${app}'`)).length === 0, {
      timeoutMs: 20_000,
      message: 'the server session ended',
    });
    const again = await psql(c.conninfo('postgres', 'test'), ['-c', 'SELECT 1']);
    assert.notEqual(again.code, 0);
    assert.match(again.stderr, /revoked/);
    await g.gw.waitForEvent((e) => e.type === 'db.session.start' && e.outcome === 'failure' && e.reason === 'cert_revoked' && e.user === 'carol');
  });
});
