import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import mysql from 'mysql2/promise';
import { eventually } from '../../helpers/eventually.js';
import {
  createMysqlFixture,
  mysqlAdmin,
  mysqlDatabase,
  mysqlPolicy,
  requireMysql,
  startDbGateway,
  type DbCredentials,
  type DbGateway,
  type MysqlFixture,
} from '../../helpers/gateways/db.js';
import { runChild, startRun } from '../../helpers/processes.js';

const REPO = fileURLToPath(new URL('../../..', import.meta.url));

describe('MariaDB through the db listener: mariadb and mysql2, per-statement audit, prepared statements, transcript, KILL, revocation', () => {
  let g: DbGateway | undefined;
  let fx: MysqlFixture;
  let recordings: string;
  before(async (t) => {
    if (!(await requireMysql(t as never))) return;
    recordings = mkdtempSync(join(tmpdir(), 'gatehouse-mysql-rec-'));
    fx = await createMysqlFixture('ghm');
    g = await startDbGateway(t as never, { ...mysqlPolicy(fx), databases: [mysqlDatabase(fx)], recordings: { dir: recordings } });
  });
  after(async () => {
    await g?.stop();
    await fx?.drop();
    if (recordings) rmSync(recordings, { recursive: true, force: true });
  });

  const mariadb = (args: string[], timeoutMs = 30_000) => runChild('mariadb', ['--no-defaults', '--batch', '--skip-column-names', ...args], { timeoutMs });
  const connect = (c: DbCredentials, extra: mysql.ConnectionOptions = {}) =>
    mysql.createConnection({
      host: '127.0.0.1',
      port: g!.port,
      user: fx.user,
      database: fx.database,
      ssl: { ca: readFileSync(c.ca, 'utf8'), cert: readFileSync(c.cert, 'utf8'), key: readFileSync(c.key, 'utf8') },
      ...extra,
    });
  const dbEvents = (session?: string) => g!.gw.auditEvents().filter((e) => e.type.startsWith('db.') && (!session || e.session_id === session));
  const lastStart = (user: string) => [...dbEvents()].reverse().find((e) => e.type === 'db.session.start' && e.outcome === 'success' && e.user === user)!;
  const endOf = (session: string) => g!.gw.waitForEvent((e) => e.type === 'db.session.end' && e.session_id === session, 10_000);

  test('mariadb runs queries as the requested db user; each statement is one db.query, in order; the end has bytes and a count', async () => {
    if (!g) return;
    const c = await g.credentials('alice', ['dba'], 'main-maria', { db_user: fx.user, db_name: fx.database });
    const r = await mariadb([...c.mariadbArgs(fx.user, fx.database), '-e', "SELECT CURRENT_USER(), DATABASE(); SELECT 'two'; SELECT 3"]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.stdout.trim().split('\n'), [`${fx.user}@%\t${fx.database}`, 'two', '3']);
    const start = lastStart('alice');
    assert.equal(start.details?.protocol, 'mysql');
    assert.equal(start.details?.database, 'main-maria');
    assert.equal(start.details?.db_user, fx.user);
    const end = await endOf(start.session_id!);
    const statements = dbEvents(start.session_id)
      .filter((e) => e.type === 'db.query')
      .map((e) => e.details?.statement);
    assert.deepEqual(statements.slice(-3), ['SELECT CURRENT_USER(), DATABASE()', "SELECT 'two'", 'SELECT 3']);
    assert.equal(end.details?.statements, statements.length);
    assert.ok((end.details?.bytes_from_client as number) > 0 && (end.details?.bytes_from_server as number) > 0);
  });

  test('mysql2: multi-statements are split; prepared statements are audited with their bound parameters', async () => {
    if (!g) return;
    const c = await g.credentials('alice', ['dba'], 'main-maria', { db_user: fx.user });
    const conn = await connect(c, { multipleStatements: true });
    try {
      await conn.query(
        'CREATE TABLE IF NOT EXISTS t_params (id INT PRIMARY KEY, name VARCHAR(40), score DOUBLE, born DATETIME, data BLOB); DELETE FROM t_params',
      );
      const [res] = await conn.execute('INSERT INTO t_params VALUES (?, ?, ?, ?, ?)', [7, 'héllo', 2.5, new Date(Date.UTC(2024, 0, 2, 3, 4, 5)), null]);
      assert.equal((res as { affectedRows: number }).affectedRows, 1);
      const [rows] = await conn.execute('SELECT name FROM t_params WHERE id = ? AND name = ?', [7, 'héllo']);
      assert.deepEqual(rows, [{ name: 'héllo' }]);
      await conn.execute('SELECT ? AS b', [Buffer.from([0, 1, 2, 255])]);
    } finally {
      await conn.end();
    }
    const start = lastStart('alice');
    await endOf(start.session_id!);
    const queries = dbEvents(start.session_id).filter((e) => e.type === 'db.query');
    const texts = queries.map((e) => e.details?.statement);
    const create = texts.indexOf('CREATE TABLE IF NOT EXISTS t_params (id INT PRIMARY KEY, name VARCHAR(40), score DOUBLE, born DATETIME, data BLOB)');
    assert.ok(create >= 0, JSON.stringify(texts));
    assert.equal(texts[create + 1], 'DELETE FROM t_params');
    const insert = queries.find((e) => e.details?.statement === 'INSERT INTO t_params VALUES (?, ?, ?, ?, ?)')!;
    assert.equal(insert.details?.query_protocol, 'binary');
    const params = (insert.details?.parameters as { value: string | null }[]).map((p) => p.value);
    assert.equal(params[0], '7');
    assert.equal(params[1], 'héllo');
    assert.equal(params[2], '2.5');
    assert.match(String(params[3]), /^2024-01-0[12] \d\d:04:05/);
    assert.equal(params[4], null);
    const select = queries.find((e) => e.details?.statement === 'SELECT name FROM t_params WHERE id = ? AND name = ?')!;
    assert.deepEqual(
      (select.details?.parameters as { value: string }[]).map((p) => p.value),
      ['7', 'héllo'],
    );
    const blob = queries.find((e) => e.details?.statement === 'SELECT ? AS b')!;
    assert.deepEqual(blob.details?.parameters, [{ value: '\\x000102ff', format: 'binary' }]);
    // Audit order is statement order.
    assert.deepEqual(
      queries.map((e) => e.details?.sequence),
      queries.map((_, i) => i + 1),
    );
  });

  test('a few MB through INSERT and SELECT come back byte-exact', async () => {
    if (!g) return;
    const c = await g.credentials('alice', ['dba'], 'main-maria', { db_user: fx.user });
    const conn = await connect(c);
    try {
      await conn.query('CREATE TABLE IF NOT EXISTS t_bulk (id INT PRIMARY KEY, data LONGBLOB)');
      await conn.query('DELETE FROM t_bulk');
      const data = Buffer.alloc(6 * 1024 * 1024);
      for (let i = 0; i < data.length; i++) data[i] = (i * 7919) & 0xff;
      await conn.query('INSERT INTO t_bulk VALUES (1, ?)', [data]);
      await conn.execute('INSERT INTO t_bulk VALUES (2, ?)', [data]);
      const [rows] = await conn.query('SELECT id, data FROM t_bulk ORDER BY id');
      const got = rows as { id: number; data: Buffer }[];
      assert.equal(got.length, 2);
      assert.ok(got[0].data.equals(data), 'text protocol round trip');
      assert.ok(got[1].data.equals(data), 'binary protocol round trip');
    } finally {
      await conn.end();
    }
    const start = lastStart('alice');
    const end = await endOf(start.session_id!);
    assert.ok((end.details?.bytes_from_client as number) > 12 * 1024 * 1024);
    const insert = dbEvents(start.session_id).find((e) => e.type === 'db.query' && String(e.details?.statement).startsWith('INSERT INTO t_bulk VALUES (1,'))!;
    assert.equal(insert.details?.cut, true);
  });

  test('COM_INIT_DB and USE of a db name the roles do not allow are refused (ERR 1044) and audited; COM_CHANGE_USER is refused', async () => {
    if (!g) return;
    const c = await g.credentials('bob', ['dev'], 'main-maria', { db_user: fx.user, db_name: fx.database });
    // The client's own `use` command is a COM_INIT_DB.
    const r = await runChild('mariadb', ['--no-defaults', '--batch', ...c.mariadbArgs(fx.user, fx.database)], {
      input: `SELECT 1;\nuse ${fx.other}\n`,
      timeoutMs: 30_000,
    });
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /ERROR 1044 \(42000\).*gatehouse: You may not open db name/);
    const refused = await g.gw.waitForEvent((e) => e.type === 'db.query' && e.outcome === 'failure' && e.user === 'bob');
    assert.equal(refused.reason, 'db_name_not_allowed');
    assert.equal(refused.details?.statement, `USE \`${fx.other}\``);
    const conn = await connect(c);
    try {
      await assert.rejects(conn.query(`USE ${fx.other}`), (err: { errno?: number }) => err.errno === 1044);
      await g.gw.waitForEvent((e) => e.type === 'db.query' && e.outcome === 'failure' && e.details?.statement === `USE ${fx.other}`);
      const [rows] = await conn.query('SELECT DATABASE() AS d');
      assert.deepEqual(rows, [{ d: fx.database }]);
      await assert.rejects(conn.changeUser({ user: 'root' }), (err: { errno?: number }) => err.errno === 1045);
    } finally {
      conn.destroy();
    }
    await g.gw.waitForEvent((e) => e.type === 'db.query' && e.reason === 'db_command_refused' && e.user === 'bob');
  });

  test('KILL QUERY takes the gateway connection id of the person own session; another person is refused (ERR 1095) and audited', async () => {
    if (!g) return;
    const alice = await g.credentials('alice', ['dba'], 'main-maria', { db_user: fx.user });
    const bob = await g.credentials('bob', ['dev'], 'main-maria', { db_user: fx.user, db_name: fx.database });
    const a = await connect(alice);
    const killer = await connect(alice);
    const other = await connect(bob);
    try {
      const [[{ id: serverId }]] = (await a.query('SELECT CONNECTION_ID() AS id')) as unknown as [[{ id: number }]];
      assert.notEqual(a.threadId, serverId, "the client holds the gateway's connection id, not the server's");
      // The handler is attached now: the error can reach the client before the killer's OK does.
      const running = assert.rejects(a.query('SELECT SLEEP(30) AS slept'), (err: { errno?: number }) => err.errno === 1317); // Query execution was interrupted
      await eventually(
        async () =>
          (await mysqlAdmin<unknown[]>(`SELECT 1 FROM information_schema.PROCESSLIST WHERE ID = ${serverId} AND INFO LIKE 'SELECT SLEEP%'`)).length === 1,
        {
          timeoutMs: 20_000,
          message: 'the sleep is running',
        },
      );
      await assert.rejects(other.query(`KILL QUERY ${a.threadId}`), (err: { errno?: number }) => err.errno === 1095);
      const refused = await g.gw.waitForEvent((e) => e.type === 'db.cancel' && e.outcome === 'failure' && e.user === 'bob');
      assert.equal(refused.reason, 'db_cancel_refused');
      await assert.rejects(other.query(`KILL QUERY ${serverId}`), (err: { errno?: number }) => err.errno === 1094);
      await killer.query(`KILL QUERY ${a.threadId}`);
      await running;
      const [rows] = await a.query('SELECT 1 AS still');
      assert.deepEqual(rows, [{ still: 1 }], 'only the query was killed, not the session');
      const ok = await g.gw.waitForEvent((e) => e.type === 'db.cancel' && e.outcome === 'success' && e.user === 'alice');
      assert.equal(ok.details?.connection_id, a.threadId);
    } finally {
      for (const conn of [a, killer, other]) conn.destroy();
    }
  });

  test('the session replays as a transcript: gatehouse play and the recordings API', async () => {
    if (!g) return;
    const c = await g.credentials('alice', ['dba'], 'main-maria', { db_user: fx.user, db_name: fx.database });
    const r = await mariadb([...c.mariadbArgs(fx.user, fx.database), '-e', "SELECT 'replay me'; SELECT * FROM no_such_table"]);
    assert.notEqual(r.code, 0);
    const start = lastStart('alice');
    await endOf(start.session_id!);
    const token = await g.token('alice', ['dba']);
    const res = await fetch(`${g.gw.url}/api/v1/recordings/${start.session_id}`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(res.status, 200);
    const output = (await res.text())
      .trim()
      .split('\n')
      .slice(1)
      .map((l) => (JSON.parse(l) as [number, string, string])[2])
      .join('');
    assert.match(output, new RegExp(`${fx.database}=> SELECT 'replay me'\\r\\n-- 1 row\\r\\n`));
    assert.match(output, /=> SELECT \* FROM no_such_table\r\n-- ERROR 1146 \(42S02\): Table '.*no_such_table' doesn't exist/);
    const play = await runChild(process.execPath, ['--import', 'tsx', join(REPO, 'src/cli/main.ts'), 'play', start.session_id!, '--print-schedule'], {
      env: { ...process.env, GATEHOUSE_SERVER: g.gw.url, GATEHOUSE_TOKEN: token },
      timeoutMs: 60_000,
    });
    assert.equal(play.code, 0, play.stderr);
    assert.match(play.stdout, /replay me/);
  });

  test('revoking the person ends their open mariadb session and its server statement', async () => {
    if (!g) return;
    const c = await g.credentials('carol', ['dba'], 'main-maria', { db_user: fx.user, db_name: fx.database });
    const open = startRun('mariadb', ['--no-defaults', '--batch', ...c.mariadbArgs(fx.user, fx.database), '-e', "SELECT SLEEP(60), 'carol-sleep'"], {
      timeoutMs: 60_000,
    });
    const sleeping = () =>
      mysqlAdmin<unknown[]>(`SELECT 1 FROM information_schema.PROCESSLIST WHERE INFO LIKE '%carol-sleep%' AND INFO NOT LIKE '%PROCESSLIST%'`);
    await eventually(async () => (await sleeping()).length === 1, { timeoutMs: 20_000, message: 'the session is running' });
    const res = await fetch(`${g.gw.url}/api/v1/ssh/certs/revoke`, {
      method: 'POST',
      headers: { authorization: `Bearer ${await g.token('carol', ['dba'])}`, 'content-type': 'application/json' },
      body: JSON.stringify({ user: 'carol' }),
    });
    assert.equal(res.status, 200);
    const ended = await open.done;
    assert.notEqual(ended.code, 0);
    assert.match(ended.stderr, /revoked/);
    const end = await g.gw.waitForEvent((e) => e.type === 'db.session.end' && e.user === 'carol');
    assert.equal(end.details?.ended_by, 'revoked');
    await eventually(async () => (await sleeping()).length === 0, { timeoutMs: 20_000, message: 'the server statement stopped' });
    const again = await mariadb([...c.mariadbArgs(fx.user, fx.database), '-e', 'SELECT 1']);
    assert.notEqual(again.code, 0);
    assert.match(again.stderr, /revoked/);
  });
});
