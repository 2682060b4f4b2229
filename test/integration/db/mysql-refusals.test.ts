import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect as tcpConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import mysql from 'mysql2/promise';
import type { AuditEvent } from '../../../src/audit/sink.js';
import { createDbCa } from '../../../src/db-ca/ca.js';
import {
  countingRelay,
  createMysqlFixture,
  MYSQL,
  mysqlDatabase,
  mysqlPolicy,
  requireMysql,
  startDbGateway,
  type DbGateway,
  type MysqlFixture,
} from '../../helpers/gateways/db.js';
import { runChild } from '../../helpers/processes.js';

/** Waits for the gateway's MySQL greeting on a fresh connection, writes `bytes`, and collects what comes back until it closes. */
function afterGreeting(port: number, bytes: Buffer): Promise<{ greeting: Buffer; answer: Buffer }> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let greeting: Buffer | undefined;
    const s = tcpConnect({ host: '127.0.0.1', port });
    s.on('data', (d: Buffer) => {
      if (greeting) return void chunks.push(d);
      greeting = d;
      s.write(bytes);
    });
    s.on('error', () => {});
    s.on('close', () => resolve({ greeting: greeting ?? Buffer.alloc(0), answer: Buffer.concat(chunks) }));
  });
}

/** The SQLSTATE and message of an ERR packet. */
const errOf = (packet: Buffer) => ({ code: packet.readUInt16LE(5), text: packet.toString('utf8', 8) });

describe('MySQL refusals at the db listener: the client gets ERR 1045 or 1044, the audit a failed db.session.start, the database no connection', () => {
  let g: DbGateway | undefined;
  let fx: MysqlFixture;
  let relay: Awaited<ReturnType<typeof countingRelay>>;
  let dir: string;
  before(async (t) => {
    if (!(await requireMysql(t as never))) return;
    dir = mkdtempSync(join(tmpdir(), 'gatehouse-mysql-refusals-'));
    fx = await createMysqlFixture('ghr');
    relay = await countingRelay(MYSQL.port);
    g = await startDbGateway(t as never, {
      ...mysqlPolicy(fx),
      databases: [mysqlDatabase(fx, 'main-maria', { address: `127.0.0.1:${relay.port}` })],
      db: { startup_timeout: '2s' },
    });
  });
  after(async () => {
    await g?.stop();
    await relay?.close();
    await fx?.drop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const mariadb = (args: string[]) => runChild('mariadb', ['--no-defaults', '--batch', ...args, '-e', 'SELECT 1'], { timeoutMs: 30_000 });
  const refused = async (reason: string, before: number, match: (e: AuditEvent) => boolean = () => true): Promise<AuditEvent> => {
    const event = await g!.gw.waitForEvent((e) => e.type === 'db.session.start' && e.outcome === 'failure' && e.reason === reason && match(e));
    assert.equal(event.details?.protocol, 'mysql');
    assert.equal(relay.count(), before, 'no connection to the database');
    return event;
  };

  test('a db user or db name the roles do not allow, or no db name: ERR 1045 / 1044', async () => {
    if (!g) return;
    const c = await g.credentials('bob', ['dev'], 'main-maria', { db_user: fx.user, db_name: fx.database });
    const before = relay.count();
    const asRoot = await mariadb(c.mariadbArgs('root', fx.database));
    assert.match(asRoot.stderr, /ERROR 1045 \(28000\).*gatehouse: You may not sign in to "main-maria" as db user "root" \(allowed: /);
    const event = await refused('db_user_not_allowed', before);
    assert.equal(event.user, 'bob');
    assert.equal(event.details?.db_user, 'root');
    const other = await mariadb(c.mariadbArgs(fx.user, fx.other));
    assert.match(other.stderr, /ERROR 1044 \(42000\).*may not open db name/);
    await refused('db_name_not_allowed', before, (e) => e.details?.db_name === fx.other);
    const none = await mariadb(c.mariadbArgs(fx.user));
    assert.match(none.stderr, /ERROR 1044 \(42000\).*say which database to open/);
    await refused('db_name_not_allowed', before, (e) => e.details?.db_name === '');
    // mysql2 sees the same numbers.
    await assert.rejects(
      mysql.createConnection({
        host: '127.0.0.1',
        port: g.port,
        user: 'root',
        database: fx.database,
        ssl: { ca: readFileSync(c.ca, 'utf8'), cert: readFileSync(c.cert, 'utf8'), key: readFileSync(c.key, 'utf8') },
      }),
      (err: { errno?: number; sqlState?: string }) => err.errno === 1045 && err.sqlState === '28000',
    );
    assert.equal(relay.count(), before);
  });

  test('no certificate, a certificate from another CA, plain text: ERR 1045', async () => {
    if (!g) return;
    const good = await g.credentials('alice', ['dba'], 'main-maria', { db_user: fx.user });
    const before = relay.count();
    const args = good.mariadbArgs(fx.user, fx.database);
    const none = await mariadb(args.filter((a) => !a.startsWith('--ssl-cert') && !a.startsWith('--ssl-key')));
    assert.match(none.stderr, /ERROR 1045 \(28000\).*needs a client certificate/);
    await refused('db_cert_required', before);

    const foreign = await createDbCa({ dataDir: mkdtempSync(join(dir, 'other-ca-')) }).issueClient(
      {
        identity: { connector: 'corp', subject: 'corp:alice', username: 'alice', groups: ['dba'], claims: {} },
        roles: ['dba'],
        database: 'main-maria',
        users: [fx.user],
        names: ['*'],
      },
      { notBefore: new Date(Date.now() - 60_000), notAfter: new Date(Date.now() + 3_600_000) },
    );
    writeFileSync(join(dir, 'foreign.crt'), foreign.cert);
    writeFileSync(join(dir, 'foreign.key'), foreign.key, { mode: 0o600 });
    const f = await mariadb(
      args.map((a) =>
        a.startsWith('--ssl-cert') ? `--ssl-cert=${join(dir, 'foreign.crt')}` : a.startsWith('--ssl-key') ? `--ssl-key=${join(dir, 'foreign.key')}` : a,
      ),
    );
    assert.match(f.stderr, /ERROR 1045 \(28000\).*not issued by this gateway's database CA/);
    await refused('cert_untrusted', before);

    const plain = await runChild(
      'mariadb',
      ['--no-defaults', '--skip-ssl', '-h', '127.0.0.1', '-P', String(g.port), '-u', fx.user, fx.database, '-e', 'SELECT 1'],
      {
        timeoutMs: 30_000,
      },
    );
    assert.match(plain.stderr, /ERROR 1045 \(28000\).*accepts TLS connections only/);
    await refused('db_tls_required', before);
  });

  test('garbage after the greeting, a packet over the handshake cap, an SSLRequest then nothing: ERR 1043 or a close', async () => {
    if (!g) return;
    const before = relay.count();
    const garbage = await afterGreeting(g.port, Buffer.from('\x05\x00\x00\x01hello'));
    assert.equal(garbage.greeting[4], 10, 'protocol 10 greeting');
    assert.equal(garbage.answer[4], 0xff);
    assert.equal(errOf(garbage.answer).code, 1043);
    await refused('db_protocol_error', before, (e) => String(e.details?.error).includes('too short'));

    // The biggest length a packet can say (16 MiB, as the first of a 100 MB stream): refused from its header.
    const header = Buffer.from([0xff, 0xff, 0xff, 0x01]);
    const huge = await afterGreeting(g.port, Buffer.concat([header, Buffer.alloc(65_536, 0x61)]));
    assert.match(errOf(huge.answer).text, /handshake packet of 16777215 bytes is over the cap/);
    await refused('db_protocol_error', before, (e) => String(e.details?.error).includes('16777215'));

    // An SSLRequest (32 bytes, CLIENT_SSL | PROTOCOL_41), then no TLS handshake: closed at db.startup_timeout.
    const ssl = Buffer.alloc(36);
    ssl.writeUIntLE(32, 0, 3);
    ssl[3] = 1;
    ssl.writeUInt32LE(0x800 | 0x200 | 0x8000, 4);
    const hanging = await afterGreeting(g.port, ssl);
    assert.equal(hanging.answer.length, 0);
    await refused('db_startup_timeout', before);
    assert.equal(relay.count(), before);
  });
});
