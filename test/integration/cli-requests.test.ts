// `gatehouse request …` and `gatehouse login --request ID`: the real CLI in child processes against
// a real gateway (the embedded IdP and connector `corp`). Bob (devs: developer) asks for prod-admin;
// Alice (admins: sre-lead, devs: developer) reviews. Each has their own CLI home with the login
// `gatehouse login` leaves (tokens from the CLI's own OAuth flow in a signed-in browser). And
// `policy explain` / `check-config` offline, with the access requests an identity holds.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { decodeJwt } from 'jose';
import type { ServerState } from '../../src/cli/state.js';
import type { RequestView } from '../../src/cli/commands/request.js';
import { Browser } from '../helpers/browsers/browser.js';
import { logIn } from '../helpers/browsers/sign-in.js';
import { eventually, giveUp } from '../helpers/eventually.js';
import { cliLogin } from '../helpers/gateways/cli-oauth.js';
import { alice, bob, startSso, type SsoSetup } from '../helpers/gateways/sso.js';
import { runChild, startRun } from '../helpers/processes.js';

const REPO = fileURLToPath(new URL('../..', import.meta.url));
const CLI = ['--import', 'tsx', join(REPO, 'src/cli/main.ts')];
const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/;

const POLICY = {
  roles: [
    {
      name: 'developer',
      kubernetes_groups: ['developers'],
      request: { roles: ['prod-admin'], reviewers: { roles: ['sre-lead'] }, require_reason: true },
    },
    { name: 'sre-lead', kubernetes_groups: ['sre'] },
    { name: 'prod-admin', requestable: true, max_duration: '4h', kubernetes_groups: ['prod-admins'] },
  ],
  mappings: [
    { match: { claim: 'groups', value: 'devs' }, roles: ['developer'] },
    { match: { claim: 'groups', value: 'admins' }, roles: ['sre-lead'] },
  ],
};

let s: SsoSetup;
const homes: Record<'alice' | 'bob', string> = { alice: '', bob: '' };
const stateFile = (who: 'alice' | 'bob') => join(homes[who], 'servers', `${new URL(s.gw.url).host.replace(/[^A-Za-z0-9.-]/g, '_')}.json`);
const readLogin = (who: 'alice' | 'bob') => JSON.parse(readFileSync(stateFile(who), 'utf8')) as ServerState;

/** What `gatehouse login` leaves: tokens, who, roles, and a cached cluster token to be dropped later. */
async function saveCliLogin(who: 'alice' | 'bob', browser: Browser, roles: string[]) {
  const tokens = await cliLogin(browser, s.gw.url);
  assert.ok(tokens.refresh_token, JSON.stringify(tokens));
  homes[who] = mkdtempSync(join(tmpdir(), `gatehouse-cli-requests-${who}-`));
  mkdirSync(join(homes[who], 'servers'), { recursive: true, mode: 0o700 });
  const state: ServerState = {
    server: s.gw.url,
    refresh_token: tokens.refresh_token,
    access_token: tokens.access_token,
    access_expires_at: Date.now() + tokens.expires_in * 1000,
    user: { username: who, roles, kubernetes_groups: [] },
    clusters: { prod: { name: 'prod', audience: 'gatehouse:prod', mode: 'oidc', api_server: 'https://127.0.0.1:6443' } },
    kube: { prod: { token: 'cached-before-the-request', expires_at: Date.now() + 600_000 } },
  };
  writeFileSync(stateFile(who), JSON.stringify(state), { mode: 0o600 });
}

const env = (who: 'alice' | 'bob') => {
  const out: NodeJS.ProcessEnv = { ...process.env, GATEHOUSE_HOME: homes[who], GATEHOUSE_BROWSER: 'false' };
  for (const name of ['GATEHOUSE_SERVER', 'GATEHOUSE_TOKEN', 'GATEHOUSE_CONFIG']) delete out[name];
  return out;
};
const cli = (who: 'alice' | 'bob', ...args: string[]) =>
  runChild(process.execPath, [...CLI, ...args, '--server', s.gw.url], { env: env(who), timeoutMs: 60_000 });

before(async () => {
  s = await startSso({ ...POLICY, clusters: [{ name: 'prod', audience: 'gatehouse:prod', api_server: 'https://127.0.0.1:6443' }] });
  const browsers = { alice: new Browser(), bob: new Browser() };
  // Signing in at the gateway is what makes someone an eligible reviewer.
  await logIn(browsers.alice, s.gw, 'Corp SSO', alice);
  await logIn(browsers.bob, s.gw, 'Corp SSO', bob);
  await saveCliLogin('alice', browsers.alice, ['developer', 'sre-lead']);
  await saveCliLogin('bob', browsers.bob, ['developer']);
});
after(async () => {
  await s?.stop();
  for (const home of Object.values(homes)) if (home) rmSync(home, { recursive: true, force: true });
});

describe('gatehouse request and login --request', () => {
  let id = '';

  test('create: a reason is required; then the id, state, who can approve and the review page', async () => {
    const refused = await cli('bob', 'request', 'create', '--role', 'prod-admin');
    assert.equal(refused.code, 1, refused.stderr);
    assert.match(refused.stderr, /^gatehouse: A reason is required for this request \(--reason\)\. \(request_reason_required\)$/m);

    const run = await cli('bob', 'request', 'create', '--role', 'prod-admin', '--reason', 'INC-123 disk full on db-7', '--duration', '2h');
    assert.equal(run.code, 0, run.stderr);
    id = new RegExp(`^request: +(${UUID.source})$`, 'm').exec(run.stdout)?.[1] ?? '';
    assert.ok(id, run.stdout);
    assert.match(run.stdout, /^state: +pending \(prod-admin for 2h once approved\)$/m);
    assert.match(run.stdout, /^can approve: +alice \(holders of sre-lead; 1 approval needed, 0 given\)$/m);
    assert.ok(run.stdout.includes(`review page:  ${s.gw.url}/requests/${id}\n`), run.stdout);
    const created = await s.gw.waitForEvent((e) => e.type === 'access_request.create' && e.outcome === 'success');
    assert.equal(created.details?.request_id, id);
  });

  test('ls: the requester and the reviewer see it pending, with what may be requested', async () => {
    const mine = await cli('bob', 'request', 'ls', '--mine');
    assert.equal(mine.code, 0, mine.stderr);
    const [head, row] = mine.stdout.split('\n');
    assert.match(head, /^ID +STATE +REQUESTER +ROLES +REASON +DURATION +CREATED +EXPIRES$/);
    assert.match(row, new RegExp(`^${id} +pending +bob +prod-admin +INC-123 disk full on db-7 +2h +\\S+Z +\\S+Z$`));
    assert.match(mine.stdout, /^ {2}prod-admin: up to 4h, approved by 1 holder of sre-lead, reason required$/m);

    const pending = await cli('alice', 'request', 'ls', '--state', 'pending', '--json');
    assert.equal(pending.code, 0, pending.stderr);
    const list = JSON.parse(pending.stdout) as { requests: RequestView[] };
    assert.deepEqual(
      list.requests.map((r) => [r.id, r.state, r.can_review]),
      [[id, 'pending', true]],
    );
    const none = await cli('bob', 'request', 'ls', '--state', 'active');
    assert.match(none.stdout, /^no requests match$/m);
  });

  test('review: the requester cannot approve their own request', async () => {
    const run = await cli('bob', 'request', 'review', id, '--approve');
    assert.equal(run.code, 1);
    assert.match(run.stderr, /^gatehouse: You cannot review your own request\. \(request_self_review\)$/m);
    const refused = await s.gw.waitForEvent((e) => e.type === 'access_request.review' && e.outcome === 'failure');
    assert.equal(refused.reason, 'request_self_review');
    assert.equal(refused.user, 'bob');

    const both = await cli('alice', 'request', 'review', id, '--approve', '--deny');
    assert.equal(both.code, 64, 'exactly one of --approve and --deny');
    assert.match(both.stderr, /exactly one of --approve and --deny/);
  });

  test('login --request waits for approval, then the login, tokens and cluster tokens carry the request', async () => {
    const waiting = startRun(process.execPath, [...CLI, 'login', '--request', id, '--server', s.gw.url], { env: env('bob'), timeoutMs: 90_000 });
    await eventually(
      () => {
        if (waiting.child.exitCode !== null) giveUp(`login --request exited early:\n${waiting.stdout()}\n${waiting.stderr()}`);
        return waiting.stderr().includes(`Request ${id} is waiting for approval: alice (holders of sre-lead; 1 approval needed, 0 given)`);
      },
      { timeoutMs: 45_000, message: () => `no "waiting for approval" line:\n${waiting.stderr()}` },
    );

    const approve = await cli('alice', 'request', 'review', id, '--approve', '--comment', 'go ahead');
    assert.equal(approve.code, 0, approve.stderr);
    assert.match(approve.stdout, new RegExp(`^Approved ${id}: bob has prod-admin until \\S+Z\\.$`, 'm'));

    const done = await waiting.done;
    assert.equal(done.code, 0, `${done.stdout}\n${done.stderr}`);
    assert.doesNotMatch(done.stderr, /Open this URL|browser/, 'the saved login was enough');
    const active = JSON.parse((await cli('bob', 'request', 'show', id, '--json')).stdout) as RequestView;
    assert.equal(active.state, 'active');
    assert.ok(done.stdout.includes(`Access request ${id} is active: prod-admin until ${active.expires_at!.replace(/\.\d{3}Z$/, 'Z')} (`), done.stdout);
    assert.match(done.stdout, /^Your roles now: developer, prod-admin\./m);

    const state = readLogin('bob');
    assert.deepEqual(state.kube, {}, 'the cluster token cached before the request is gone');
    assert.deepEqual(state.user?.roles, ['developer', 'prod-admin']);
    const claims = decodeJwt(state.access_token!);
    assert.deepEqual(claims.access_requests, [id]);
    assert.ok(claims.exp! * 1000 <= Date.parse(active.expires_at!), 'the gateway token ends with the request');

    const credential = await cli('bob', 'kube', 'credentials', '--cluster', 'prod');
    assert.equal(credential.code, 0, credential.stderr);
    const kube = decodeJwt((JSON.parse(credential.stdout) as { status: { token: string } }).status.token);
    assert.ok((kube.groups as string[]).includes('prod-admins'), JSON.stringify(kube));
    assert.deepEqual(kube.access_requests, [id]);
  });

  test('show: active with its expiry and the review; drop: revoked, and nothing left to assume', async () => {
    const show = await cli('bob', 'request', 'show', id);
    assert.equal(show.code, 0, show.stderr);
    assert.match(show.stdout, /^state: +active$/m);
    assert.match(show.stdout, /^expires: +\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/m);
    assert.match(show.stdout, /^reason: +INC-123 disk full on db-7$/m);
    assert.match(show.stdout, /^ {2}alice {2}approve {2}\S+Z {2}"go ahead"$/m);

    const drop = await cli('bob', 'request', 'drop', id);
    assert.equal(drop.code, 0, drop.stderr);
    assert.equal(drop.stdout, `Request ${id} is revoked (by bob).\n`);
    const revoked = await s.gw.waitForEvent((e) => e.type === 'access_request.revoke' && e.outcome === 'success');
    assert.equal(revoked.details?.request_id, id);
    // Bob's saved token was minted under the request, so the gateway refuses it now; the CLI refreshes once.
    const shown = await cli('bob', 'request', 'show', id, '--json');
    assert.equal(shown.code, 0, shown.stderr);
    const ended = JSON.parse(shown.stdout) as RequestView;
    assert.equal(ended.state, 'revoked');
    assert.equal(decodeJwt(readLogin('bob').access_token!).access_requests, undefined, 'a token without the ended request');

    const again = await cli('bob', 'login', '--request', id);
    assert.equal(again.code, 1);
    assert.match(again.stderr, new RegExp(`^gatehouse: Request ${id} is revoked \\(by bob\\): nothing to assume\\.$`, 'm'));
    const missing = await cli('bob', 'request', 'show', '00000000-0000-0000-0000-000000000000');
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /\(request_not_found\)$/m);
  });
});

describe('policy explain and check-config with access requests (offline)', () => {
  test('request grants are marked, and what the identity may request is listed; policy tests assert them', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gatehouse-policy-requests-'));
    try {
      const config = join(dir, 'gatehouse.yaml');
      const tests = [
        {
          name: 'bob on call',
          identity: { connector: 'corp', username: 'bob', groups: ['devs'], access_requests: [{ roles: ['prod-admin'] }] },
          expect: { roles: ['developer', 'prod-admin'], kubernetes_groups: ['developers', 'prod-admins'], requestable: ['prod-admin'] },
        },
      ];
      const raw = { server: { public_url: 'http://127.0.0.1:9', listen: '127.0.0.1:9' }, connectors: [{ type: 'demo', id: 'corp' }], ...POLICY, tests };
      writeFileSync(config, JSON.stringify(raw));
      const identity = join(dir, 'bob.json');
      writeFileSync(
        identity,
        JSON.stringify({ connector: 'corp', username: 'bob', groups: ['devs'], access_requests: [{ id: 'INC-123-test', roles: ['prod-admin'] }] }),
      );
      const offline = { ...process.env, GATEHOUSE_HOME: dir };
      const run = await runChild(process.execPath, [...CLI, 'policy', 'explain', '--config', config, '--identity', identity], {
        env: offline,
        timeoutMs: 60_000,
      });
      assert.equal(run.code, 0, run.stderr);
      assert.match(run.stdout, /^ {2}developer +from mappings\.0 /m);
      assert.match(run.stdout, /^ {2}prod-admin +from access request INC-123-test$/m);
      assert.match(run.stdout, /^ {2}prod-admins +from role prod-admin \(access request INC-123-test\)$/m);
      assert.match(run.stdout, /^ {2}INC-123-test +prod-admin until \S+Z$/m);
      assert.match(run.stdout, /^may request:\n {2}prod-admin +reviewers sre-lead \(1 approval\), max 4h, reason required$/m);

      const check = await runChild(process.execPath, [...CLI, 'check-config', '--config', config], { env: offline, timeoutMs: 60_000 });
      assert.equal(check.code, 0, check.stderr);
      assert.match(check.stdout, /1 policy test\(s\) passed/);
      writeFileSync(config, JSON.stringify({ ...raw, tests: [{ ...tests[0], expect: { requestable: [] } }] }));
      const failing = await runChild(process.execPath, [...CLI, 'check-config', '--config', config], { env: offline, timeoutMs: 60_000 });
      assert.equal(failing.code, 2);
      assert.match(failing.stderr, /tests\.0 \(bob on call\): requestable expected \[\] but got \[prod-admin\]/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
