import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { eventually, giveUp } from '../../helpers/eventually.js';
import { startDbGateway, type DbGateway } from '../../helpers/gateways/db.js';
import { closedPort } from '../../helpers/peers/services.js';
import { runChild, startRun } from '../../helpers/processes.js';

const REPO = fileURLToPath(new URL('../../..', import.meta.url));

describe('gatehouse db ls | login | connect | proxy with stock psql', () => {
  let g: DbGateway | undefined;
  let home: string;
  let env: NodeJS.ProcessEnv;
  before(async (t) => {
    g = await startDbGateway(t as never, { recordings: { dir: mkdtempSync(join(tmpdir(), 'gatehouse-db-cli-rec-')) } });
    if (!g) return;
    home = mkdtempSync(join(tmpdir(), 'gatehouse-db-cli-'));
    mkdirSync(join(home, '.gatehouse'), { mode: 0o700 });
    env = {
      ...process.env,
      HOME: home,
      GATEHOUSE_HOME: join(home, '.gatehouse'),
      GATEHOUSE_SERVER: g.gw.url,
      GATEHOUSE_TOKEN: await g.token('alice', ['dba', 'dev']),
    };
    delete env.PGSERVICEFILE;
  });
  after(async () => {
    await g?.stop();
    if (home) rmSync(home, { recursive: true, force: true });
  });
  const cli = (...args: string[]) => runChild(process.execPath, ['--import', 'tsx', join(REPO, 'src/cli/main.ts'), ...args], { env, timeoutMs: 60_000 });

  test('db ls lists what the roles open, with the db users and names', async () => {
    if (!g) return;
    const json = await cli('db', 'ls', '--json');
    assert.equal(json.code, 0, json.stderr);
    const listed = JSON.parse(json.stdout) as { databases: { name: string; users: string[]; names: string[] }[]; address: string };
    assert.deepEqual(listed.databases, [
      {
        name: 'main-pg',
        protocol: 'postgres',
        labels: { env: 'dev' },
        users: ['alice', 'postgres'],
        names: ['*', 'test'],
        connect: ['gatehouse db connect main-pg --db-user alice', 'gatehouse db connect main-pg --db-user postgres'],
      },
    ]);
    assert.equal(listed.address, `127.0.0.1:${g.port}`);
    const text = await cli('db', 'ls');
    assert.match(text.stdout, /^main-pg {2}postgres {2}users: alice, postgres/m);
  });

  test('db login writes 0600 files and a service entry next to the entries already there; psql uses it', async () => {
    if (!g) return;
    writeFileSync(join(home, '.pg_service.conf'), '# mine\n[other]\nhost=db.example\n\n[gatehouse-main-pg]\nhost=stale\n');
    const login = await cli('db', 'login', 'main-pg', '--db-user', 'postgres', '--db-name', 'test');
    assert.equal(login.code, 0, login.stderr);
    assert.match(login.stdout, /psql "service=gatehouse-main-pg"/);
    const dir = join(home, '.gatehouse', 'db');
    for (const f of ['main-pg.crt', 'main-pg.key', 'ca.crt', 'main-pg.json']) assert.equal(statSync(join(dir, f)).mode & 0o777, 0o600, f);
    const service = readFileSync(join(home, '.pg_service.conf'), 'utf8');
    assert.match(
      service,
      /^# mine\n\[other\]\nhost=db\.example\n\n\[gatehouse-main-pg\]\nhost=127\.0\.0\.1\nport=\d+\nuser=postgres\ndbname=test\nsslmode=verify-full\n/,
    );
    assert.doesNotMatch(service, /stale/);
    const viaService = await runChild('psql', ['service=gatehouse-main-pg', '-X', '-A', '-t', '-c', 'SELECT current_user'], { env, timeoutMs: 30_000 });
    assert.equal(viaService.code, 0, viaService.stderr);
    assert.equal(viaService.stdout.trim(), 'postgres');
    // The printed command line works as it is.
    const line = /^ {2}(psql ".*")$/m.exec(login.stdout)![1];
    const printed = await runChild('sh', ['-c', `${line} -X -A -t -c 'SELECT 7'`], { env, timeoutMs: 30_000 });
    assert.equal(printed.stdout.trim(), '7', printed.stderr);
  });

  test('db connect runs psql with the flags (refusing a db user the roles do not allow)', async () => {
    if (!g) return;
    const r = await cli('db', 'connect', 'main-pg', '--db-user', 'postgres', '--db-name', 'test', '--', '-X', '-A', '-t', '-c', "SELECT 'via connect'");
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), 'via connect');
    const refused = await cli('db', 'connect', 'main-pg', '--db-user', 'root');
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /may not sign in to "main-pg" as db user "root" \(allowed: alice, postgres\)\. \(db_user_not_allowed\)/);
  });

  test('db proxy: a local tunnel for clients without a certificate', async () => {
    if (!g) return;
    const port = await closedPort();
    const tunnel = startRun(
      process.execPath,
      ['--import', 'tsx', join(REPO, 'src/cli/main.ts'), 'db', 'proxy', 'main-pg', '--port', String(port), '--db-user', 'postgres'],
      {
        env,
        timeoutMs: 110_000,
      },
    );
    try {
      await eventually(() => tunnel.stdout().includes('Tunnel to main-pg') || (tunnel.child.exitCode !== null && giveUp(tunnel.stderr())), {
        timeoutMs: 60_000,
        message: () => `the tunnel did not start: ${tunnel.stderr()}`,
      });
      for (const sslmode of ['disable', 'prefer']) {
        const r = await runChild('psql', [`host=127.0.0.1 port=${port} user=postgres dbname=test sslmode=${sslmode}`, '-X', '-A', '-t', '-c', 'SELECT 1 + 1'], {
          env,
          timeoutMs: 30_000,
        });
        assert.equal(r.code, 0, r.stderr);
        assert.equal(r.stdout.trim(), '2');
      }
    } finally {
      tunnel.child.kill('SIGTERM');
      await tunnel.done;
    }
  });
});
