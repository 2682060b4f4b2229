// The docker-compose stack, proven without Docker: the services of docker-compose.yml run as
// processes, derived from the compose file (test/helpers/gateways/compose.ts, where the only
// changes, network addresses and data dirs, are mapped in one place): Redis with the service's
// command, a new PostgreSQL with its trust auth, the run's Keycloak with the realm file the
// service imports, an upstream for whoami, an sshd for ssh-node trusting the gateway's user CA
// (fetched as the node's entrypoint does), and `gatehouse serve` with GATEHOUSE_CONFIG and the
// service's environment (the secrets .env would hold, generated here). Then every setting of
// config/gatehouse.compose.yaml is used: OIDC and SAML sign-in through Keycloak in Chromium, the
// whoami app and its roles, TokenReview's bearer, the SSH listener and recordings, audit in
// PostgreSQL, sessions in Redis with AOF, workers: auto, drain_delay at SIGTERM, and its tests: block.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test, type TestContext } from 'node:test';
import type { Browser, BrowserContext } from 'playwright-core';
import { createClient } from 'redis';
import { parse, stringify } from 'yaml';
import { launchChromium } from '../helpers/browsers/chromium.js';
import { CLI_CLIENT, CLI_REDIRECT, oauthToken } from '../helpers/gateways/cli-oauth.js';
import {
  composeKeycloak,
  composeValue,
  deriveGatewayConfig,
  envExampleNames,
  maskAddresses,
  readCompose,
  startComposeGatehouse,
  startComposePostgres,
  startComposeRedis,
  type ComposeGatehouse,
  type StackAddresses,
} from '../helpers/gateways/compose.js';
import { REPO_ROOT } from '../helpers/gateways/demo-cli.js';
import { eventually } from '../helpers/eventually.js';
import { requireKeycloak, type Keycloak, type KeycloakUser } from '../helpers/peers/keycloak.js';
import { closedPort, requireBinary } from '../helpers/peers/services.js';
import { fetchUserCert, keygen, prepareSshd, runSsh, writeClientConfig, type Sshd } from '../helpers/peers/ssh.js';
import { startUpstream, type Upstream } from '../helpers/peers/upstream.js';
import { runChild } from '../helpers/processes.js';

const compose = readCompose();
const composeConfig = parse(readFileSync(join(REPO_ROOT, 'config/gatehouse.compose.yaml'), 'utf8')) as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
const secret = () => randomBytes(24).toString('base64url');

interface Stack {
  kc: Keycloak;
  dir: string;
  addresses: StackAddresses;
  derived: Record<string, unknown>;
  url: string;
  env: Record<string, string>;
  gatehouse: ComposeGatehouse;
  redis: Awaited<ReturnType<typeof startComposeRedis>>;
  postgres: Awaited<ReturnType<typeof startComposePostgres>>;
  whoami: Upstream;
  node?: { sshd: Sshd; prepared: NonNullable<Awaited<ReturnType<typeof prepareSshd>>> };
}

/** Starts every service once for the file, in the compose file's depends_on order. */
async function startStack(t: TestContext, kc: Keycloak): Promise<Stack> {
  const redisBin = requireBinary(t, 'redis-server');
  if (!redisBin) throw new Error('redis-server is not installed');
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-compose-'));
  const [redis, postgres, whoami, prepared] = await Promise.all([
    startComposeRedis(redisBin, compose),
    startComposePostgres(compose),
    startUpstream(),
    prepareSshd(t),
  ]);
  if (!prepared) throw new Error('sshd is not installed');
  const addresses: StackAddresses = {
    gatewayPort: await closedPort(),
    sshPort: await closedPort(),
    redisPort: redis.port,
    postgresPort: postgres.port,
    keycloakUrl: kc.url,
    whoamiPort: whoami.port,
    sshNodePort: prepared.port,
    dataDir: join(dir, 'gatehouse'),
  };
  const derived = deriveGatewayConfig(composeConfig, addresses);
  const configPath = join(dir, 'gatehouse.compose.yaml');
  writeFileSync(configPath, stringify(derived));
  // What .env holds: the Keycloak client secret is the one the run's Keycloak imported the realm with.
  const env = { KEYCLOAK_CLIENT_SECRET: kc.clientSecret, TOKENREVIEW_TOKEN: secret() };
  const service = compose.services.gatehouse.environment ?? {};
  const gatehouse = await startComposeGatehouse({
    ...Object.fromEntries(Object.entries(service).map(([k, v]) => [k, composeValue(v, env)])),
    GATEHOUSE_CONFIG: configPath, // the service's /etc/gatehouse/gatehouse.compose.yaml (the ./config mount), derived
  });
  const url = derived.server.public_url as string;
  // ssh-node's entrypoint: the user CA from the gateway, then sshd.
  const ca = await (await fetch(`${url}/api/v1/ssh/ca?type=user`)).text();
  const sshd = await prepared.start(ca);
  return { kc, dir, addresses, derived, url, env, gatehouse, redis, postgres, whoami, node: { sshd, prepared } };
}

/** Chromium on the gateway's login page → Keycloak's login form (OIDC or SAML) → back on the gateway's home page. */
async function signIn(context: BrowserContext, s: Stack, connector: string, user: { username: string; password: string }) {
  const page = await context.newPage();
  await page.goto(`${s.url}/login`);
  await page.click(`#connector-${connector}`);
  await page.waitForURL(`${s.kc.issuer}/protocol/**`);
  // Keycloak answers a request it refuses with an error page, not its login form: say which.
  await page.waitForSelector('#username').catch(async () => assert.fail(`no login form at ${page.url()}: ${await page.innerText('body')}`));
  await page.fill('#username', user.username);
  await page.fill('#password', user.password);
  await page.click('#kc-login');
  await page.waitForURL(`${s.url}/`);
  return page;
}

const whoamiOf = async (context: BrowserContext, s: Stack) => (await (await context.request.get(`${s.url}/api/v1/whoami`)).json()) as Record<string, unknown>;

describe('the compose stack as processes, with config/gatehouse.compose.yaml', () => {
  let setup: Promise<Stack> | undefined;
  let s: Stack;
  let chromium: Browser | undefined;
  let alice: Promise<BrowserContext> | undefined;
  const people: KeycloakUser[] = [];
  const closers: (() => unknown)[] = [];

  after(async () => {
    for (const close of closers) await close();
    const stack = await setup?.catch(() => undefined);
    for (const user of people) await stack?.kc.admin.deleteUser(user.id).catch(() => undefined);
    await stack?.gatehouse.stop(20_000);
    await Promise.all([stack?.node?.sshd.stop(), stack?.redis.stop(), stack?.postgres.stop(), stack?.whoami.close()]);
    if (stack) rmSync(stack.dir, { recursive: true, force: true });
  });

  const ready = async (t: TestContext) => {
    const kc = await requireKeycloak(t);
    if (!kc) return false;
    setup ??= startStack(t, kc);
    s = await setup;
    return true;
  };
  /** One Chromium for the file (launchChromium closes it after the test it is given: here, after the file). */
  const browser = async (t: TestContext) => {
    const fileScoped = new Proxy(t, {
      get: (target, name) => {
        if (name === 'after') return (fn: () => unknown) => void closers.push(fn);
        const value = Reflect.get(target, name, target) as unknown;
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    chromium ??= await launchChromium(fileScoped);
    return chromium;
  };
  /** alice, signed in through Keycloak OIDC once for the file. */
  const aliceContext = async (t: TestContext) => {
    const b = await browser(t);
    if (!b) return undefined;
    alice ??= b.newContext().then(async (context) => (await signIn(context, s, 'keycloak', s.kc.alice), context));
    return alice;
  };

  test('the derived config differs from the compose file in addresses only; Keycloak runs as the compose service says', async (t) => {
    if (!(await ready(t))) return;
    assert.deepEqual(maskAddresses(s.derived), maskAddresses(composeConfig));
    assert.notDeepEqual(s.derived, composeConfig, 'the addresses were mapped');
    const kc = composeKeycloak(compose, s.addresses, { ...s.env, KEYCLOAK_ADMIN_PASSWORD: 'x', DEMO_ALICE_PASSWORD: 'x', DEMO_BOB_PASSWORD: 'x' });
    // The run's Keycloak (scripts/test-keycloak.mjs) is this service: start-dev --import-realm of
    // the realm in the mounted dir, the pinned version, and KC_HOSTNAME with its port mapped.
    assert.equal(kc.mode, 'start-dev');
    assert.ok(kc.flags.includes('--import-realm'));
    assert.ok(existsSync(join(REPO_ROOT, kc.realmDir!, 'gatehouse-realm.json')));
    assert.equal(kc.version, /^KEYCLOAK_VERSION=(\S+)$/m.exec(readFileSync(join(REPO_ROOT, 'scripts/fetch-peers.sh'), 'utf8'))?.[1]);
    assert.equal(kc.environment.KC_HOSTNAME, s.kc.url);
    assert.equal(`${kc.environment.KC_HOSTNAME}/realms/gatehouse`, s.kc.issuer, "the connector's issuer is Keycloak's hostname");
    assert.equal(kc.environment.KEYCLOAK_CLIENT_SECRET, s.kc.clientSecret, 'the realm was imported with the secret Gatehouse has');
    for (const name of Object.keys(kc.environment).filter((k) => !k.startsWith('KC_'))) assert.ok(envExampleNames().includes(name), name);
  });

  test("`gatehouse check-config` passes the compose config's tests: block", async () => {
    const env = { ...process.env, KEYCLOAK_CLIENT_SECRET: secret(), TOKENREVIEW_TOKEN: secret() };
    const argv = ['--import', import.meta.resolve('tsx'), join(REPO_ROOT, 'src/cli/main.ts'), 'check-config', '--config', 'config/gatehouse.compose.yaml'];
    const run = await runChild(process.execPath, argv, { env, cwd: REPO_ROOT });
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /OK \(2 connector\(s\): keycloak, keycloak-saml; 2 role\(s\), 2 mapping\(s\), 1 policy test\(s\) passed\)/);
  });

  test('workers: auto forks one worker per core (state in Redis, audit in PostgreSQL); the listening line names their pids', async (t) => {
    if (!(await ready(t))) return;
    const listening = s.gatehouse.lines().find((l) => l.msg === 'gatehouse is listening')!;
    assert.equal(listening.workers, availableParallelism());
    assert.equal(listening.url, s.url);
    if (availableParallelism() > 1) assert.equal((listening.pids as number[]).length, availableParallelism(), JSON.stringify(listening));
  });

  test('alice signs in through Keycloak OIDC in Chromium: admin and developer from the groups mapper; session in Redis (AOF on), audit in PostgreSQL', async (t) => {
    if (!(await ready(t))) return;
    const context = await aliceContext(t);
    if (!context) return;
    const me = await whoamiOf(context, s);
    assert.equal(me.username, 'alice');
    assert.equal(me.connector, 'keycloak');
    assert.deepEqual([...(me.groups as string[])].sort(), ['admins', 'devs']);
    assert.deepEqual([...(me.roles as string[])].sort(), ['admin', 'developer']);

    const redis = createClient({ url: `redis://127.0.0.1:${s.redis.port}` });
    await redis.connect();
    t.after(() => redis.quit());
    assert.ok((await redis.keys('gatehouse:session:*')).length > 0, 'a session key in Redis');
    assert.equal((await redis.configGet('appendonly')).appendonly, 'yes', "the service's --appendonly yes");
    assert.ok(
      readdirSync(s.redis.dir).some((f) => f.startsWith('appendonly')),
      'an AOF in the data dir',
    );

    const logins = await eventually(() => s.postgres.psql(`SELECT "user" FROM audit_events WHERE type = 'user.login' AND outcome = 'success'`).trim(), {
      timeoutMs: 30_000,
      message: 'no user.login in PostgreSQL',
    });
    assert.match(logins, /^alice$/m);
  });

  test("SAML: alice signs in through the realm's SAML client (connector keycloak-saml) in Chromium", async (t) => {
    if (!(await ready(t)) || !(await browser(t))) return;
    const context = await chromium!.newContext();
    t.after(() => context.close());
    await signIn(context, s, 'keycloak-saml', s.kc.alice);
    const me = await whoamiOf(context, s);
    assert.equal(me.username, 'alice');
    assert.equal(me.connector, 'keycloak-saml');
    assert.equal(me.email, 'alice@example.com', 'the email attribute');
    assert.deepEqual([...(me.groups as string[])].sort(), ['admins', 'devs'], "the realm client's groups mapper");
    assert.deepEqual([...(me.roles as string[])].sort(), ['admin', 'developer']);
  });

  test('the whoami path app reaches the upstream with identity headers; a person without the developer role is refused', async (t) => {
    if (!(await ready(t))) return;
    const context = await aliceContext(t);
    if (!context) return;
    const res = await context.request.get(`${s.url}/apps/whoami/hello`);
    assert.equal(res.status(), 200, await res.text());
    const seen = s.whoami.seen.at(-1)!;
    assert.equal(seen.headers['x-forwarded-user'], 'alice');
    assert.equal(seen.headers['x-forwarded-email'], 'alice@example.com');
    assert.deepEqual(String(seen.headers['x-forwarded-groups']).split(',').sort(), ['admins', 'devs']);

    const nobody = await s.kc.admin.createUser({ username: `compose-nobody-${randomBytes(4).toString('hex')}` });
    people.push(nobody);
    const other = await chromium!.newContext();
    t.after(() => other.close());
    await signIn(other, s, 'keycloak', nobody);
    const before = s.whoami.seen.length;
    const refused = await other.request.get(`${s.url}/apps/whoami/hello`, { headers: { accept: 'application/json' } });
    assert.equal(refused.status(), 403);
    assert.equal(((await refused.json()) as { error: string }).error, 'access_denied');
    assert.equal(s.whoami.seen.length, before, 'nothing reached the upstream');
    await eventually(
      () => s.postgres.psql(`SELECT 1 FROM audit_events WHERE type = 'access.denied' AND "user" = '${nobody.username}' AND app = 'whoami'`).trim(),
      { timeoutMs: 30_000, message: 'no access.denied for the app in PostgreSQL' },
    );
  });

  test('TokenReview answers with the TOKENREVIEW_TOKEN bearer and refuses another', async (t) => {
    if (!(await ready(t))) return;
    const review = (bearer: string) =>
      fetch(`${s.url}/apis/authentication.k8s.io/v1/tokenreviews`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${bearer}` },
        body: JSON.stringify({ apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token: 'not-a-token' } }),
      });
    const ok = await review(s.env.TOKENREVIEW_TOKEN);
    assert.equal(ok.status, 201);
    assert.equal(((await ok.json()) as { status: { authenticated: boolean } }).status.authenticated, false);
    const wrong = await review(secret());
    assert.equal(wrong.status, 401);
    const events = await eventually(
      () =>
        s.postgres.psql(`SELECT outcome || ' ' || coalesce(doc::json->>'reason', '-') FROM audit_events WHERE type = 'kube.tokenreview' ORDER BY seq`).trim(),
      { timeoutMs: 30_000, message: 'no kube.tokenreview in PostgreSQL' },
    );
    assert.match(events, /^failure caller_unauthenticated$/m, 'the wrong bearer is audited');
    assert.match(events, /^failure audience_not_cluster$/m, 'the right one reviewed the token (no clusters in the compose config)');
  });

  test('ssh -J through the listener to ssh-node as alice; the session is recorded in recordings.dir', async (t) => {
    if (!(await ready(t))) return;
    const context = await aliceContext(t);
    if (!context || !s.node) return;
    if (process.getuid?.() !== 0) return t.skip('the compose roles log in root or ubuntu: an sshd not run as root can log in neither');
    const verifier = randomBytes(32).toString('base64url');
    const query = new URLSearchParams({
      client_id: CLI_CLIENT,
      response_type: 'code',
      redirect_uri: CLI_REDIRECT,
      code_challenge: createHash('sha256').update(verifier).digest('base64url'),
      code_challenge_method: 'S256',
    });
    const authorize = await context.request.get(`${s.url}/oauth/authorize?${query}`, { maxRedirects: 0 });
    const code = new URL(authorize.headers().location).searchParams.get('code')!;
    const tokens = await oauthToken(s.url, { grant_type: 'authorization_code', code, code_verifier: verifier, redirect_uri: CLI_REDIRECT });
    const key = keygen(s.dir, 'alice');
    const cert = await fetchUserCert(s.url, tokens.body.access_token, key);
    assert.deepEqual([...(cert.principals as string[])].sort(), ['root', 'ubuntu'], "the admin role's logins");
    writeFileSync(join(s.dir, 'known_hosts'), `${cert.known_hosts}\n`);
    const ssh = composeConfig.ssh as { public_addr: string; nodes: { name: string }[] };
    const cfg = writeClientConfig(s.dir, {
      key,
      knownHosts: join(s.dir, 'known_hosts'),
      proxy: (s.derived.ssh as { public_addr: string }).public_addr,
      nodes: ssh.nodes.map((n) => n.name),
    });
    const run = await runSsh('ssh', ['-F', cfg, '-tt', `root@${ssh.nodes[0].name}`], { input: 'echo compose-$((6*7))\nexit 0\n' });
    assert.equal(run.code, 0, `${run.stderr}\n${s.node.sshd.log()}`);
    assert.match(run.stdout, /compose-42/);
    const end = await eventually(
      () => s.postgres.psql(`SELECT session_id FROM audit_events WHERE type = 'session.end' AND "user" = 'alice' AND node = 'node-1'`).trim(),
      { timeoutMs: 30_000, message: 'no session.end in PostgreSQL' },
    );
    const recordings = (s.derived.recordings as { dir: string }).dir;
    assert.ok(existsSync(join(recordings, `${end.split('\n')[0]}.cast`)), `a recording in ${recordings}: ${readdirSync(recordings)}`);
  });

  test('SIGTERM: readiness drops at once and the process exits only after drain_delay', async (t) => {
    if (!(await ready(t))) return;
    await alice?.then((c) => c.close());
    const drainMs = Number(/^(\d+)s$/.exec(composeConfig.server.drain_delay as string)![1]) * 1000;
    assert.equal((await fetch(`${s.url}/readyz`)).status, 200);
    const signalled = Date.now();
    s.gatehouse.child.kill('SIGTERM');
    await eventually(async () => (await fetch(`${s.url}/readyz`).catch(() => undefined))?.status === 503, {
      timeoutMs: 30_000,
      message: 'readiness did not drop',
    });
    const exit = await s.gatehouse.exited;
    const waited = Date.now() - signalled;
    assert.equal(exit.code, 0, s.gatehouse.output());
    // Loose on purpose: the property is "not before drain_delay", not a timing.
    assert.ok(waited >= drainMs - 250, `exited ${waited} ms after SIGTERM, drain_delay is ${drainMs} ms`);
  });
});
