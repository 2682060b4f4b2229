import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { eventually, giveUp } from '../../helpers/eventually.js';
import {
  createMysqlFixture,
  mysqlDatabase,
  mysqlPolicy,
  requireMysql,
  sharedPgDatabase,
  startDbGateway,
  type DbGateway,
  type MysqlFixture,
} from '../../helpers/gateways/db.js';
import { closedPort } from '../../helpers/peers/services.js';
import { runChild, startRun } from '../../helpers/processes.js';

const REPO = fileURLToPath(new URL('../../..', import.meta.url));

describe('gatehouse db login | connect | proxy for a MySQL database, with stock mariadb; psql on the same port', () => {
  let g: DbGateway | undefined;
  let fx: MysqlFixture;
  let home: string;
  let env: NodeJS.ProcessEnv;
  before(async (t) => {
    if (!(await requireMysql(t as never))) return;
    fx = await createMysqlFixture('ghc');
    g = await startDbGateway(t as never, { ...mysqlPolicy(fx), databases: [sharedPgDatabase(), mysqlDatabase(fx)] });
    if (!g) return;
    home = mkdtempSync(join(tmpdir(), 'gatehouse-mysql-cli-'));
    mkdirSync(join(home, '.gatehouse'), { mode: 0o700 });
    env = {
      ...process.env,
      HOME: home,
      GATEHOUSE_HOME: join(home, '.gatehouse'),
      GATEHOUSE_SERVER: g.gw.url,
      GATEHOUSE_TOKEN: await g.token('alice', ['dba']),
    };
  });
  after(async () => {
    await g?.stop();
    await fx?.drop();
    if (home) rmSync(home, { recursive: true, force: true });
  });
  const cli = (...args: string[]) => runChild(process.execPath, ['--import', 'tsx', join(REPO, 'src/cli/main.ts'), ...args], { env, timeoutMs: 60_000 });

  test('db login writes a 0600 option file and prints the mariadb command; mariadb uses it', async () => {
    if (!g) return;
    const r = await cli('db', 'login', 'main-maria', '--db-user', fx.user, '--db-name', fx.database);
    assert.equal(r.code, 0, r.stderr);
    const file = join(home, '.gatehouse', 'db', 'main-maria.cnf');
    assert.match(r.stdout, new RegExp(`mariadb --defaults-extra-file=${file} --ssl-verify-server-cert`));
    assert.equal(statSync(file).mode & 0o777, 0o600);
    const text = readFileSync(file, 'utf8');
    assert.match(text, /^\[client\]\nhost=127\.0\.0\.1\nport=\d+\nuser=\S+\nssl-ca=/m);
    assert.match(text, new RegExp(`^\\[mysql\\]\\ndatabase=${fx.database}$`, 'm'));
    const direct = await runChild(
      'mariadb',
      [`--defaults-extra-file=${file}`, '--ssl-verify-server-cert', '--batch', '--skip-column-names', '-e', 'SELECT DATABASE()'],
      {
        env,
        timeoutMs: 30_000,
      },
    );
    assert.equal(direct.code, 0, direct.stderr);
    assert.equal(direct.stdout.trim(), fx.database);
  });

  test('db connect runs mariadb with the right flags', async () => {
    if (!g) return;
    const r = await cli(
      'db',
      'connect',
      'main-maria',
      '--db-user',
      fx.user,
      '--db-name',
      fx.database,
      '--',
      '--batch',
      '--skip-column-names',
      '-e',
      'SELECT CURRENT_USER()',
    );
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), `${fx.user}@%`);
  });

  test('db proxy: a local tunnel for mariadb without a certificate; its statements are audited', async () => {
    if (!g) return;
    const port = await closedPort();
    const tunnel = startRun(
      process.execPath,
      ['--import', 'tsx', join(REPO, 'src/cli/main.ts'), 'db', 'proxy', 'main-maria', '--port', String(port), '--db-user', fx.user, '--db-name', fx.database],
      { env, timeoutMs: 110_000 },
    );
    try {
      await eventually(() => tunnel.stdout().includes('Tunnel to main-maria') || (tunnel.child.exitCode !== null && giveUp(tunnel.stderr())), {
        timeoutMs: 60_000,
        message: () => `the tunnel did not start: ${tunnel.stderr()}`,
      });
      assert.match(tunnel.stdout(), new RegExp(`mariadb --host=127\\.0\\.0\\.1 --port=${port} --skip-ssl`));
      const args = ['--no-defaults', '--host=127.0.0.1', `--port=${port}`, '--skip-ssl', `--user=${fx.user}`, `--database=${fx.database}`];
      const r = await runChild('mariadb', [...args, '--batch', '--skip-column-names', '-e', "SELECT 'via tunnel', DATABASE()"], { env, timeoutMs: 30_000 });
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout.trim(), `via tunnel\t${fx.database}`);
      await g.gw.waitForEvent((e) => e.type === 'db.query' && (e.details?.statement as string | undefined)?.includes("'via tunnel'") === true);
      // A db user the roles do not allow: the gateway's own ERR reaches the client through the tunnel.
      const refused = await runChild('mariadb', [...args.filter((a) => !a.startsWith('--user=')), '--user=root', '-e', 'SELECT 1'], { env, timeoutMs: 30_000 });
      assert.equal(refused.code, 1);
      assert.match(refused.stderr, /ERROR 1045 \(28000\): gatehouse: .*may not sign in to "main-maria" as db user "root"/);
    } finally {
      tunnel.child.kill('SIGTERM');
      await tunnel.done;
    }
  });

  test('a PostgreSQL client on the same port is not held back by the MySQL greeting wait', async () => {
    if (!g) return;
    const c = await g.credentials('alice', ['dba'], 'main-pg');
    const r = await runChild('psql', [c.conninfo('postgres', 'test'), '-X', '-A', '-t', '-c', 'SELECT 42'], { timeoutMs: 30_000 });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), '42');
  });
});
