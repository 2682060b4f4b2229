// The databases a person can reach, where they see them: `gatehouse status` (the real CLI, asking
// GET /api/v1/db/databases with the token of its login) and "My access" (a signed-in browser),
// each with that person's db users and names. A gateway without a database listener lists none,
// and one that cannot be asked leaves status showing what is known locally. No PostgreSQL is
// needed: listing databases never contacts one.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Browser } from '../helpers/browsers/browser.js';
import { logIn } from '../helpers/browsers/sign-in.js';
import { cliLogin } from '../helpers/gateways/cli-oauth.js';
import { startGateway, type TestGateway } from '../helpers/gateways/gateway.js';
import { alice, bob, startSso, type SsoSetup } from '../helpers/gateways/sso.js';
import { closedPort } from '../helpers/peers/services.js';
import { mintGatewayToken } from '../helpers/peers/ssh.js';
import { runChild } from '../helpers/processes.js';

const REPO = fileURLToPath(new URL('../..', import.meta.url));

const POLICY = {
  roles: [
    { name: 'dba', kubernetes_groups: ['dbas'], databases: [{ labels: { env: '*' }, users: ['postgres', 'app_*'], names: ['*'] }] },
    { name: 'dev', kubernetes_groups: ['developers'], databases: [{ labels: { env: 'dev' }, users: ['{{username}}'], names: ['app'] }] },
  ],
  mappings: [
    { match: { claim: 'groups', value: 'admins' }, roles: ['dba'] },
    { match: { claim: 'groups', value: 'devs' }, roles: ['dev'] },
  ],
};
const database = async (name: string, env: string) => ({
  name,
  protocol: 'postgres',
  address: `127.0.0.1:${await closedPort()}`,
  labels: { env },
  tls: { mode: 'disable' },
});

let s: SsoSetup;
let home: string;
const browsers: Record<'alice' | 'bob', Browser> = { alice: new Browser(), bob: new Browser() };

/** What `gatehouse login` leaves: the tokens, who, roles and groups. */
function writeLogin(server: string, tokens: { access_token: string; refresh_token: string }, user: { username: string; roles: string[] }) {
  mkdirSync(join(home, 'servers'), { recursive: true, mode: 0o700 });
  const state = {
    server,
    ...tokens,
    access_expires_at: Date.now() + 300_000,
    user: { ...user, email: `${user.username}@example.com`, kubernetes_groups: [] },
    clusters: {},
    kube: {},
  };
  writeFileSync(join(home, 'servers', `${new URL(server).host.replace(/[^A-Za-z0-9.-]/g, '_')}.json`), JSON.stringify(state), { mode: 0o600 });
}

const status = (server: string, ...args: string[]) =>
  runChild(process.execPath, ['--import', 'tsx', join(REPO, 'src/cli/main.ts'), 'status', '--server', server, ...args], {
    env: { ...process.env, GATEHOUSE_HOME: home },
    timeoutMs: 60_000,
  });

before(async () => {
  home = mkdtempSync(join(tmpdir(), 'gatehouse-db-status-'));
  s = await startSso({
    ...POLICY,
    databases: [await database('orders-pg', 'prod'), await database('dev-pg', 'dev'), { ...(await database('bare', 'x')), labels: {} }],
    db: { listen: `127.0.0.1:${await closedPort()}` },
  });
  await logIn(browsers.alice, s.gw, 'Corp SSO', alice);
  await logIn(browsers.bob, s.gw, 'Corp SSO', bob);
});
after(async () => {
  await s?.stop();
  rmSync(home, { recursive: true, force: true });
});

describe('gatehouse status lists the databases', () => {
  test('each database the roles open, with the db users and names, in the format of the other lines', async () => {
    const tokens = await cliLogin(browsers.alice, s.gw.url);
    assert.ok(tokens.access_token, JSON.stringify(tokens));
    writeLogin(s.gw.url, tokens, { username: 'alice', roles: ['dba', 'dev'] });
    const run = await status(s.gw.url);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stderr, '');
    const lines = run.stdout.split('\n');
    assert.equal(
      lines.find((l) => l.startsWith('databases:')),
      'databases:         orders-pg, dev-pg',
      'a database without labels matches no grant',
    );
    assert.ok(lines.includes('  orders-pg (postgres): db users app_*, postgres; db names *'), run.stdout);
    assert.ok(lines.includes('  dev-pg (postgres): db users alice, app_*, postgres; db names *, app'), run.stdout);
    // The labels line up with the lines above them.
    assert.equal(lines.find((l) => l.startsWith('databases:'))!.indexOf('orders-pg'), lines.find((l) => l.startsWith('roles:'))!.indexOf('dba'));

    const json = await status(s.gw.url, '--json');
    assert.equal(json.code, 0, json.stderr);
    const parsed = JSON.parse(json.stdout) as { databases: unknown; access_token?: string; refresh_token?: string };
    assert.deepEqual(parsed.databases, [
      { name: 'orders-pg', protocol: 'postgres', users: ['app_*', 'postgres'], names: ['*'] },
      { name: 'dev-pg', protocol: 'postgres', users: ['alice', 'app_*', 'postgres'], names: ['*', 'app'] },
    ]);
    assert.equal(parsed.access_token, undefined, 'tokens stay out of the output');
    assert.equal(parsed.refresh_token, undefined);
  });

  test('someone whose roles open one database sees that one only', async () => {
    const tokens = await cliLogin(browsers.bob, s.gw.url);
    writeLogin(s.gw.url, tokens, { username: 'bob', roles: ['dev'] });
    const run = await status(s.gw.url);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /^databases: {9}dev-pg\n {2}dev-pg \(postgres\): db users bob; db names app\n/m);
  });

  test('a gateway without a database listener: none; a gateway that cannot be asked: unknown, and the rest of status', async (t) => {
    const gw: TestGateway = await startGateway({
      connectors: [{ type: 'oidc', id: 'corp', issuer: 'http://127.0.0.1:9/', client_id: 'gatehouse', client_secret: 'unused' }], // secret-scan: allow
      ...POLICY,
      databases: [await database('dev-pg', 'dev')],
    });
    t.after(() => gw.stop());
    writeLogin(
      gw.url,
      { access_token: await mintGatewayToken(gw, { connector: 'corp', username: 'bob', groups: ['devs'] }), refresh_token: 'unused' },
      {
        username: 'bob',
        roles: ['dev'],
      },
    );
    const none = await status(gw.url);
    assert.equal(none.code, 0, none.stderr);
    assert.match(none.stdout, /^databases: {9}none$/m);

    const gone = `http://127.0.0.1:${await closedPort()}`;
    writeLogin(gone, { access_token: 'cached', refresh_token: 'unused' }, { username: 'bob', roles: ['dev'] });
    const unknown = await status(gone);
    assert.equal(unknown.code, 0, unknown.stderr);
    assert.match(unknown.stdout, /^user: {14}bob <bob@example\.com>$/m);
    assert.match(unknown.stdout, /^databases: {9}unknown$/m);
    assert.match(unknown.stderr, /^gatehouse: could not list your databases: /m);
    const json = await status(gone, '--json');
    assert.equal((JSON.parse(json.stdout) as { databases: unknown }).databases, null);
  });
});

describe('"My access" lists the databases', () => {
  test('with protocol, labels, db users and names, and the commands to copy', async () => {
    const page = await browsers.alice.request(`${s.gw.url}/`);
    assert.equal(page.status, 200);
    assert.match(page.body, /<section class="card" id="databases">/);
    assert.deepEqual(
      [...page.body.matchAll(/data-database="([^"]+)"/g)].map((m) => m[1]),
      ['orders-pg', 'dev-pg'],
    );
    assert.match(page.body, /<h3>dev-pg <span class="tag">postgres<\/span> <span class="tag label">env=dev<\/span><\/h3>/);
    for (const line of [
      'gatehouse db login dev-pg',
      'gatehouse db connect dev-pg --db-user alice',
      'gatehouse db connect dev-pg --db-user postgres',
      'gatehouse db connect orders-pg --db-user postgres',
    ])
      assert.ok(page.body.includes(`data-copy="${line}"`), line);
    assert.ok(!page.body.includes('--db-user app_'), 'no line for a db user pattern');

    const bobs = await browsers.bob.request(`${s.gw.url}/`);
    assert.deepEqual(
      [...bobs.body.matchAll(/data-database="([^"]+)"/g)].map((m) => m[1]),
      ['dev-pg'],
    );
    assert.ok(bobs.body.includes('data-copy="gatehouse db connect dev-pg --db-user bob"'));
    assert.ok(bobs.body.includes('data-copy="gatehouse login --server '), 'the one-time CLI login, with no node or cluster section to show it');
  });
});
