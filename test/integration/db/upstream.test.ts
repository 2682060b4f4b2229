import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ownServerDatabase, startDbGateway, type DbGateway } from '../../helpers/gateways/db.js';
import { postgresBin, startOwnPostgres, type OwnPostgres } from '../../helpers/peers/postgres-server.js';
import { skipOrFail } from '../../helpers/peers/services.js';
import { makeTls } from '../../helpers/peers/tls.js';
import { runChild } from '../../helpers/processes.js';

describe('the gateway signs in upstream: TLS verify-full against ca_file, SCRAM-SHA-256 with the configured password (a PostgreSQL of its own)', () => {
  let g: DbGateway | undefined;
  let own: OwnPostgres | undefined;
  let dir: string;
  let otherCaDir: string | undefined;
  before(async (t) => {
    if (!postgresBin()) return skipOrFail(t as never, 'PostgreSQL server binaries not found under /usr/lib/postgresql');
    dir = mkdtempSync(join(tmpdir(), 'gatehouse-db-upstream-'));
    own = await startOwnPostgres();
    const file = (name: string, text: string) => (writeFileSync(join(dir, name), text, { mode: 0o600 }), join(dir, name));
    const good = file('good', `${own.password}\n`);
    const bad = file('bad', 'not-the-password');
    const otherCa = makeTls();
    const entry = (name: string, extra: Record<string, unknown>) => ownServerDatabase(name, 'postgres', own!, extra);
    g = await startDbGateway(t as never, {
      databases: [
        entry('own-pg', { credentials: { user: 'postgres', password_file: good } }),
        entry('own-pg-badpw', { credentials: [{ user: 'postgres', password_file: bad }] }),
        entry('own-pg-nopw', {}),
        entry('own-pg-wrongca', { tls: { mode: 'verify-full', ca_file: otherCa.caFile }, credentials: { user: 'postgres', password_file: good } }),
      ],
    });
    otherCaDir = otherCa.dir;
  });
  after(async () => {
    await g?.stop();
    await own?.stop();
    for (const d of [dir, otherCaDir]) if (d) rmSync(d, { recursive: true, force: true });
  });
  const psql = (conninfo: string, query: string) =>
    runChild('psql', [conninfo, '-X', '-A', '-t', '-c', query], { timeoutMs: 30_000, env: { ...process.env, PGCONNECT_TIMEOUT: '10' } });

  test('over TLS with SCRAM: the session runs, encrypted upstream too', async () => {
    if (!g || !own) return;
    const c = await g.credentials('alice', ['dba'], 'own-pg');
    const r = await psql(c.conninfo('postgres', 'postgres'), 'SELECT current_user, ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), 'postgres|t');
  });

  test('a wrong password, no password, or a server certificate from another CA: refused with the reason, audited', async () => {
    if (!g || !own) return;
    const cases: [string, RegExp, string][] = [
      ['own-pg-badpw', /password authentication failed for user "postgres"/, 'db_upstream_auth_failed'],
      ['own-pg-nopw', /asks for a password and none is configured for db user "postgres"/, 'db_upstream_auth_failed'],
      ['own-pg-wrongca', /cannot reach the database at 127\.0\.0\.1:\d+: .*(certificate|verify)/, 'db_upstream_unreachable'],
    ];
    for (const [database, message, reason] of cases) {
      const c = await g.credentials('alice', ['dba'], database);
      const r = await psql(c.conninfo('postgres', 'postgres'), 'SELECT 1');
      assert.notEqual(r.code, 0, database);
      assert.match(r.stderr, message, database);
      const event = await g.gw.waitForEvent((e) => e.type === 'db.session.start' && e.outcome === 'failure' && e.details?.database === database);
      assert.equal(event.reason, reason);
      assert.equal(event.details?.stage, 'upstream');
    }
  });
});
