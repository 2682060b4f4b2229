// The gateway signs in to MariaDB with a client certificate: users with no password that
// REQUIRE X509 (or a SUBJECT) sign in with the certificate configured for them (chosen per db
// user); without it, or with another user's, the server refuses (ERR 1045), and a certificate of
// another CA fails the server's TLS check: each with the reason and a failed db.session.start.
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { DB_POLICY, ownServerDatabase, startDbGateway, type DbGateway } from '../../helpers/gateways/db.js';
import { mariadbBinaries, startOwnMariadb, type OwnMariadb } from '../../helpers/peers/mariadb-server.js';
import { skipOrFail } from '../../helpers/peers/services.js';
import { makeTls, signClientCert, type TestTls } from '../../helpers/peers/tls.js';
import { runChild } from '../../helpers/processes.js';

const X509_USER = 'gh_x509';
const SUBJECT_USER = 'gh_subject';
const DB = 'gh_certdb';

describe('the gateway signs in upstream to MariaDB with a client certificate (a MariaDB of its own with TLS)', () => {
  let g: DbGateway | undefined;
  let own: OwnMariadb | undefined;
  let otherCa: TestTls | undefined;
  before(async (t) => {
    if (!mariadbBinaries()) return skipOrFail(t as never, 'mariadb-install-db, mariadbd or mariadb is not installed');
    own = await startOwnMariadb();
    own.sql(
      `CREATE DATABASE ${DB}; CREATE USER '${X509_USER}'@'%' REQUIRE X509; CREATE USER '${SUBJECT_USER}'@'%' REQUIRE SUBJECT '/CN=${SUBJECT_USER}';` +
        ` GRANT ALL ON ${DB}.* TO '${X509_USER}'@'%'; GRANT ALL ON ${DB}.* TO '${SUBJECT_USER}'@'%';`,
    );
    const x509 = signClientCert(own.clientCa, X509_USER);
    const subject = signClientCert(own.clientCa, SUBJECT_USER);
    otherCa = makeTls();
    const foreign = signClientCert(otherCa, X509_USER);
    const entry = (name: string, credentials: Record<string, unknown>[]) => ownServerDatabase(name, 'mysql', own!, { credentials });
    g = await startDbGateway(t as never, {
      roles: [{ name: 'dba', databases: [{ labels: { env: '*' }, users: [X509_USER, SUBJECT_USER], names: ['*'] }] }, ...DB_POLICY.roles.slice(1)],
      databases: [
        entry('own-maria-cert', [
          { user: X509_USER, cert_file: x509.certFile, key_file: x509.keyFile },
          { user: SUBJECT_USER, cert_file: subject.certFile, key_file: subject.keyFile },
        ]),
        entry('own-maria-nocert', []),
        // The X509 user's certificate for every user: the SUBJECT user's check fails.
        entry('own-maria-wrong-subject', [{ user: '*', cert_file: x509.certFile, key_file: x509.keyFile }]),
        entry('own-maria-foreign-ca', [{ user: X509_USER, cert_file: foreign.certFile, key_file: foreign.keyFile }]),
      ],
    });
  });
  after(async () => {
    await g?.stop();
    await own?.stop();
    if (otherCa) rmSync(otherCa.dir, { recursive: true, force: true });
  });
  const mariadb = (args: string[], sql: string) =>
    runChild('mariadb', ['--no-defaults', '--batch', '--skip-column-names', ...args, '-e', sql], { timeoutMs: 30_000 });

  test('each db user signs in with its own certificate, over TLS, with no password configured', async () => {
    if (!g || !own) return;
    const c = await g.credentials('alice', ['dba'], 'own-maria-cert');
    for (const user of [X509_USER, SUBJECT_USER]) {
      const r = await mariadb(
        c.mariadbArgs(user, DB),
        "SELECT CURRENT_USER(), VARIABLE_VALUE <> '' FROM information_schema.SESSION_STATUS WHERE VARIABLE_NAME = 'Ssl_cipher'",
      );
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout.trim(), `${user}@%\t1`);
      const event = await g.gw.waitForEvent((e) => e.type === 'db.session.start' && e.outcome === 'success' && e.details?.db_user === user);
      assert.equal(event.details?.database, 'own-maria-cert');
    }
  });

  test('without the certificate, with another user’s, or with another CA’s: ERR 1045, audited', async () => {
    if (!g || !own) return;
    const cases: [string, string, RegExp][] = [
      ['own-maria-nocert', X509_USER, /ERROR 1045 \(28000\).*gatehouse: the database refused the sign-in: Access denied for user 'gh_x509'/],
      ['own-maria-wrong-subject', SUBJECT_USER, /ERROR 1045 \(28000\).*gatehouse: the database refused the sign-in: Access denied for user 'gh_subject'/],
      [
        'own-maria-foreign-ca',
        X509_USER,
        /ERROR 1045 \(28000\).*gatehouse: the database refused the gateway's client certificate \(.*client-gh_x509\.crt\) in the TLS handshake/,
      ],
    ];
    for (const [database, user, message] of cases) {
      const c = await g.credentials('alice', ['dba'], database);
      const r = await mariadb(c.mariadbArgs(user, DB), 'SELECT 1');
      assert.notEqual(r.code, 0, database);
      assert.match(r.stderr, message, database);
      const event = await g.gw.waitForEvent((e) => e.type === 'db.session.start' && e.outcome === 'failure' && e.details?.database === database);
      assert.equal(event.reason, 'db_upstream_auth_failed', database);
      assert.equal(event.details?.stage, 'upstream');
      assert.equal(event.details?.db_user, user);
    }
  });
});
