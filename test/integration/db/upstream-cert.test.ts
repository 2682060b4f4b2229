// The gateway signs in to PostgreSQL with a client certificate (pg_hba `hostssl ... cert`): the
// session runs as that db user with no password; a certificate of another CA, one for another
// user, or a missing key_file is refused with the reason and audited; Ctrl-C still cancels.
import assert from 'node:assert/strict';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { DB_POLICY, ownServerDatabase, startDbGateway, type DbCredentials, type DbGateway } from '../../helpers/gateways/db.js';
import { eventually } from '../../helpers/eventually.js';
import { postgresBin, startOwnPostgres, type OwnPostgres } from '../../helpers/peers/postgres-server.js';
import { skipOrFail } from '../../helpers/peers/services.js';
import { makeTls, signClientCert, type TestTls } from '../../helpers/peers/tls.js';
import { runChild, startRun } from '../../helpers/processes.js';

const USER = 'gh_cert_app';

describe('the gateway signs in upstream with a client certificate (a PostgreSQL of its own, pg_hba cert)', () => {
  let g: DbGateway | undefined;
  let own: OwnPostgres | undefined;
  let otherCa: TestTls | undefined;
  before(async (t) => {
    if (!postgresBin()) return skipOrFail(t as never, 'PostgreSQL server binaries not found under /usr/lib/postgresql');
    own = await startOwnPostgres({ certUsers: [USER] });
    own.psql(`CREATE ROLE ${USER} LOGIN`);
    const good = signClientCert(own.clientCa!, USER);
    const otherUser = signClientCert(own.clientCa!, 'someone_else');
    otherCa = makeTls();
    const foreign = signClientCert(otherCa, USER);
    const entry = (name: string, credentials: Record<string, unknown>) =>
      ownServerDatabase(name, 'postgres', own!, { credentials: { user: USER, ...credentials } });
    g = await startDbGateway(t as never, {
      roles: [{ name: 'dba', databases: [{ labels: { env: '*' }, users: [USER], names: ['*'] }] }, ...DB_POLICY.roles.slice(1)],
      databases: [
        entry('own-pg-cert', { cert_file: good.certFile, key_file: good.keyFile }),
        entry('own-pg-foreign-ca', { cert_file: foreign.certFile, key_file: foreign.keyFile }),
        entry('own-pg-other-user', { cert_file: otherUser.certFile, key_file: otherUser.keyFile }),
        entry('own-pg-no-key', { cert_file: good.certFile, key_file: join(own.clientCa!.dir, 'missing.key') }),
      ],
    });
  });
  after(async () => {
    await g?.stop();
    await own?.stop();
    if (otherCa) rmSync(otherCa.dir, { recursive: true, force: true });
  });
  const psql = (conninfo: string, query: string) =>
    runChild('psql', [conninfo, '-X', '-A', '-t', '-c', query], { timeoutMs: 30_000, env: { ...process.env, PGCONNECT_TIMEOUT: '10' } });
  /** The refusal a driver sees (psql prints no SQLSTATE): severity and code. */
  const refusalOf = async (c: DbCredentials): Promise<{ severity?: string; code?: string }> => {
    const ssl = { ca: readFileSync(c.ca, 'utf8'), cert: readFileSync(c.cert, 'utf8'), key: readFileSync(c.key, 'utf8') };
    const client = new pg.Client({ host: '127.0.0.1', port: g!.port, user: USER, database: 'postgres', ssl });
    try {
      await client.connect();
    } catch (err) {
      return { severity: (err as pg.DatabaseError).severity, code: (err as pg.DatabaseError).code };
    } finally {
      await client.end().catch(() => {});
    }
    return {};
  };

  test('the session runs as the certificate’s db user, over TLS, with no password configured', async () => {
    if (!g || !own) return;
    const c = await g.credentials('alice', ['dba'], 'own-pg-cert');
    const r = await psql(c.conninfo(USER, 'postgres'), 'SELECT current_user, ssl, client_dn FROM pg_stat_ssl WHERE pid = pg_backend_pid()');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), `${USER}|t|/CN=${USER}`);
    const event = await g.gw.waitForEvent((e) => e.type === 'db.session.start' && e.outcome === 'success' && e.details?.database === 'own-pg-cert');
    assert.equal(event.details?.db_user, USER);
  });

  test('refused, with the reason and a failed db.session.start: another CA’s certificate, another user’s, a missing key_file', async () => {
    if (!g || !own) return;
    const cases: [string, RegExp, string, string][] = [
      [
        'own-pg-foreign-ca',
        /FATAL: {2}gatehouse: the database refused the gateway's client certificate \(.*client-gh_cert_app\.crt\) in the TLS handshake: .*unknown ca/,
        'db_upstream_auth_failed',
        '28000',
      ],
      [
        'own-pg-other-user',
        /FATAL: {2}gatehouse: the database refused the sign-in: certificate authentication failed for user "gh_cert_app"/,
        'db_upstream_auth_failed',
        '28000',
      ],
      [
        'own-pg-no-key',
        /FATAL: {2}gatehouse: cannot use the database's TLS settings: cannot read key_file .*missing\.key of db user "gh_cert_app" \(ENOENT\)/,
        'db_upstream_unreachable',
        '08006',
      ],
    ];
    for (const [database, message, reason, sqlstate] of cases) {
      const c = await g.credentials('alice', ['dba'], database);
      const r = await psql(c.conninfo(USER, 'postgres'), 'SELECT 1');
      assert.notEqual(r.code, 0, database);
      assert.match(r.stderr, message, database);
      const event = await g.gw.waitForEvent((e) => e.type === 'db.session.start' && e.outcome === 'failure' && e.details?.database === database);
      assert.equal(event.reason, reason, database);
      assert.equal(event.details?.stage, 'upstream');
      assert.deepEqual(await refusalOf(c), { severity: 'FATAL', code: sqlstate }, database);
    }
  });

  test('Ctrl-C in psql cancels the certificate user’s query (the cancel request reaches the server)', async () => {
    if (!g || !own) return;
    const c = await g.credentials('alice', ['dba'], 'own-pg-cert');
    const app = `gh_cert_cancel_${process.pid}`;
    const run = startRun('psql', [`${c.conninfo(USER, 'postgres')} application_name=${app}`, '-X', '-c', 'SELECT pg_sleep(60)'], { timeoutMs: 60_000 });
    await eventually(() => own!.psql(`SELECT count(*) FROM pg_stat_activity WHERE application_name = '${app}' AND state = 'active'`).trim() === '1', {
      timeoutMs: 20_000,
      message: 'the sleep is running',
    });
    run.child.kill('SIGINT');
    const r = await run.done;
    assert.match(r.stderr, /canceling statement due to user request/);
    const cancel = await g.gw.waitForEvent((e) => e.type === 'db.cancel' && e.outcome === 'success' && e.details?.database === 'own-pg-cert');
    assert.equal(cancel.user, 'alice');
  });
});
