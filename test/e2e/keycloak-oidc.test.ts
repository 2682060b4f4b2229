// OIDC through a real Keycloak (the run's, with the compose stack's realm file): Chromium signs in
// on Keycloak's own login form; the session's username is Keycloak's preferred_username, groups
// come from the realm's group-membership mappers (short names in `groups`, full paths in
// `group_paths`), realm roles from the realm-role mapper, each mapped to Gatehouse roles;
// email_verified=false follows the connector's rule; Keycloak's `sid` is kept on the session.
// Then continuous re-evaluation, driven by Keycloak's admin REST API: a person removed from a
// group loses the mapped role at the next CLI and cluster token refresh, and a person disabled
// there can no longer refresh, and their Gatehouse session ends.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { after, describe, test, type TestContext } from 'node:test';
import { decodeJwt } from 'jose';
import type { Browser, BrowserContext } from 'playwright-core';
import { launchChromium } from '../helpers/browsers/chromium.js';
import { CLI_CLIENT, CLI_REDIRECT, oauthToken, type CliTokens } from '../helpers/gateways/cli-oauth.js';
import { startGateway, type TestGateway } from '../helpers/gateways/gateway.js';
import { requireKeycloak, KEYCLOAK_CLIENT_ID, type Keycloak, type KeycloakUser } from '../helpers/peers/keycloak.js';

const CLUSTER_AUDIENCE = 'gatehouse:prod';

/** The compose stack's connector (config/gatehouse.compose.yaml), pointed at this run's Keycloak. */
const connector = (kc: Keycloak, extra: Record<string, unknown> = {}) => ({
  type: 'oidc',
  id: 'keycloak',
  name: 'Keycloak',
  provider: 'keycloak',
  issuer: kc.issuer,
  client_id: KEYCLOAK_CLIENT_ID,
  client_secret: kc.clientSecret,
  scopes: ['openid', 'email', 'profile'],
  ...extra,
});

const policy = {
  roles: [
    { name: 'platform-admin', kubernetes_groups: ['platform-admins'] },
    { name: 'developer', kubernetes_groups: ['developers'] },
    { name: 'auditor', audit: 'read' },
  ],
  mappings: [
    // Keycloak's full group path, and the short name of another group.
    { match: { connector: 'keycloak', claim: 'group_paths', value: '/platform/admins' }, roles: ['platform-admin'] },
    { match: { connector: 'keycloak', claim: 'groups', value: 'devs' }, roles: ['developer'] },
    // A realm role, from the realm-role mapper the realm adds to the ID token.
    { match: { connector: 'keycloak', claim: 'realm_access.roles', value: 'gatehouse-auditor' }, roles: ['auditor'] },
  ],
  clusters: [{ name: 'prod', audience: CLUSTER_AUDIENCE, api_server: 'https://127.0.0.1:6443' }],
};

/** Chromium on the gateway's login page → Keycloak's login form → the gateway's callback's answer (and then its home page). */
async function signInThroughKeycloak(context: BrowserContext, gw: TestGateway, kc: Keycloak, user: { username: string; password: string }) {
  const page = await context.newPage();
  await page.goto(`${gw.url}/`);
  await page.waitForURL(`${gw.url}/login**`);
  await page.click('#connector-keycloak');
  await page.waitForURL(`${kc.issuer}/protocol/openid-connect/auth**`);
  await page.fill('#username', user.username);
  await page.fill('#password', user.password);
  const callback = page.waitForResponse((r) => r.url().startsWith(`${gw.url}/callback/keycloak`));
  await page.click('#kc-login');
  return { page, callback: await callback };
}

async function whoami(context: BrowserContext, gw: TestGateway) {
  const res = await context.request.get(`${gw.url}/api/v1/whoami`);
  return { status: res.status(), body: (await res.json()) as Record<string, unknown> };
}

/** `gatehouse login`'s loopback authorization-code flow, with Chromium's gateway session doing the authorize step. */
async function cliLogin(context: BrowserContext, gw: TestGateway): Promise<CliTokens> {
  const verifier = randomBytes(32).toString('base64url');
  const query = new URLSearchParams({
    client_id: CLI_CLIENT,
    response_type: 'code',
    redirect_uri: CLI_REDIRECT,
    code_challenge: createHash('sha256').update(verifier).digest('base64url'),
    code_challenge_method: 'S256',
  });
  const res = await context.request.get(`${gw.url}/oauth/authorize?${query}`, { maxRedirects: 0 });
  assert.equal(res.status(), 302);
  const code = new URL(res.headers().location).searchParams.get('code');
  assert.ok(code, res.headers().location);
  const tokens = await oauthToken(gw.url, { grant_type: 'authorization_code', code, code_verifier: verifier, redirect_uri: CLI_REDIRECT });
  assert.equal(tokens.status, 200, JSON.stringify(tokens.body));
  return tokens.body;
}

const sessionCookie = async (context: BrowserContext, gw: TestGateway) => (await context.cookies(gw.url)).find((c) => c.name === 'gatehouse_session')?.value;

describe('OIDC through Keycloak', () => {
  let kc: Keycloak | undefined;
  let chromium: Browser | undefined;
  let gateway: Promise<TestGateway> | undefined;
  let gw: TestGateway;
  const created: KeycloakUser[] = [];

  after(async () => {
    await (await gateway)?.stop();
    for (const user of created) await kc?.admin.deleteUser(user.id).catch(() => undefined);
  });

  /** Keycloak, a Chromium for this test and the shared gateway; false after a skip (a failure on CI). */
  const ready = async (t: TestContext) => {
    kc = await requireKeycloak(t);
    chromium = kc && (await launchChromium(t));
    if (!kc || !chromium) return false;
    gateway ??= startGateway({ connectors: [connector(kc)], ...policy });
    gw = await gateway;
    return true;
  };

  /** A fresh person for one test (the realm's alice and bob are shared by every file). */
  const person = async (name: string, options: { groups?: string[]; emailVerified?: boolean } = {}) => {
    const user = await kc!.admin.createUser({ username: `${name}-${randomBytes(4).toString('hex')}`, ...options });
    created.push(user);
    return user;
  };

  test("alice signs in on Keycloak's login form: preferred_username, both group forms, a realm role, sid", async (t) => {
    if (!(await ready(t))) return;
    const context = await chromium!.newContext();
    t.after(() => context.close());
    const { page, callback } = await signInThroughKeycloak(context, gw, kc!, kc!.alice);
    assert.equal(callback.status(), 302);
    await page.waitForURL(`${gw.url}/`);

    const me = await whoami(context, gw);
    assert.equal(me.status, 200);
    assert.equal(me.body.username, 'alice', 'preferred_username');
    assert.equal(me.body.email, 'alice@example.com');
    assert.equal(me.body.connector, 'keycloak');
    assert.deepEqual([...(me.body.groups as string[])].sort(), ['admins', 'devs'], 'short group names from the groups mapper');
    assert.deepEqual([...(me.body.roles as string[])].sort(), ['auditor', 'developer', 'platform-admin']);
    assert.equal(me.body.audit, 'read', 'the realm role gatehouse-auditor maps to auditor');

    // Keycloak's session id is on the Gatehouse session (for back-channel logout), and the raw claims
    // hold both group forms and the realm roles.
    const id = await sessionCookie(context, gw);
    const stored = JSON.parse((await gw.gateway.store.get(`session:${id}`))!) as {
      upstreamLogout?: { sid?: string };
      identity: { claims: Record<string, unknown>; emailVerified: boolean; upstreamGrant?: string };
    };
    const aliceId = (await kc!.admin.call<{ id: string }[]>('GET', '/users?exact=true&username=alice'))[0].id;
    const kcSessions = await kc!.admin.userSessions(aliceId);
    assert.ok(stored.upstreamLogout?.sid, 'sid kept');
    assert.ok(
      kcSessions.some((s) => s.id === stored.upstreamLogout?.sid),
      'the sid names a live Keycloak session of alice',
    );
    assert.deepEqual([...(stored.identity.claims.group_paths as string[])].sort(), ['/devs', '/platform/admins']);
    assert.ok((stored.identity.claims.realm_access as { roles: string[] }).roles.includes('gatehouse-auditor'));
    assert.equal(stored.identity.emailVerified, true);
    assert.ok(stored.identity.upstreamGrant, "Keycloak's refresh token is kept server-side for re-checks");
    assert.ok(!JSON.stringify(me.body).includes(stored.identity.upstreamGrant!), 'and never shown');

    const login = await gw.waitForEvent((e) => e.type === 'user.login' && e.outcome === 'success' && e.user === 'alice');
    assert.equal(login.connector, 'keycloak');
  });

  test('email_verified=false: allowed by the keycloak preset, refused with require_email_verified', async (t) => {
    if (!(await ready(t))) return;
    const carol = await person('carol', { groups: ['/devs'], emailVerified: false });

    const context = await chromium!.newContext();
    t.after(() => context.close());
    await (await signInThroughKeycloak(context, gw, kc!, carol)).page.waitForURL(`${gw.url}/`);
    const me = await whoami(context, gw);
    assert.equal(me.status, 200);
    assert.equal(me.body.username, carol.username);
    assert.deepEqual(me.body.roles, ['developer']);

    const strict = await startGateway({ connectors: [connector(kc!, { require_email_verified: true })], ...policy });
    t.after(() => strict.stop());
    const strictContext = await chromium!.newContext();
    t.after(() => strictContext.close());
    const { callback: refused } = await signInThroughKeycloak(strictContext, strict, kc!, carol);
    assert.equal(refused.status(), 403);
    assert.match(await refused.text(), /email_not_verified/);
    assert.equal((await whoami(strictContext, strict)).status, 401, 'no session');
    const event = await strict.waitForEvent((e) => e.type === 'user.login' && e.outcome === 'failure');
    assert.equal(event.reason, 'email_not_verified');
    assert.equal(event.connector, 'keycloak');
  });

  test('removed from a Keycloak group: the next CLI and cluster token refresh lose the mapped role', async (t) => {
    if (!(await ready(t))) return;
    const dave = await person('dave', { groups: ['/platform/admins', '/devs'] });
    const context = await chromium!.newContext();
    t.after(() => context.close());
    await (await signInThroughKeycloak(context, gw, kc!, dave)).page.waitForURL(`${gw.url}/`);
    const first = await cliLogin(context, gw);
    assert.deepEqual([...(decodeJwt(first.access_token).roles as string[])].sort(), ['developer', 'platform-admin']);

    const before = await oauthToken(gw.url, { grant_type: 'refresh_token', refresh_token: first.refresh_token, resource: CLUSTER_AUDIENCE });
    assert.equal(before.status, 200, JSON.stringify(before.body));
    assert.deepEqual([...(decodeJwt(before.body.access_token).groups as string[])].sort(), ['developers', 'platform-admins']);

    await kc!.admin.removeFromGroup(dave.id, '/platform/admins');

    const cluster = await oauthToken(gw.url, { grant_type: 'refresh_token', refresh_token: before.body.refresh_token, resource: CLUSTER_AUDIENCE });
    assert.equal(cluster.status, 200, JSON.stringify(cluster.body));
    assert.deepEqual(decodeJwt(cluster.body.access_token).groups, ['developers'], 'cluster token: platform-admins is gone');
    const api = await oauthToken(gw.url, { grant_type: 'refresh_token', refresh_token: cluster.body.refresh_token });
    assert.equal(api.status, 200);
    const claims = decodeJwt(api.body.access_token);
    assert.deepEqual(claims.roles, ['developer'], 'gateway token: platform-admin is gone');
    assert.deepEqual(claims.groups, ['devs']);
    const refreshed = await gw.waitForEvent((e) => e.type === 'token.refreshed' && e.outcome === 'success' && e.user === dave.username);
    assert.equal(refreshed.connector, 'keycloak');
  });

  test('disabled in Keycloak: the refresh fails with upstream_revoked, and the Gatehouse session and CLI login end', async (t) => {
    if (!(await ready(t))) return;
    const erin = await person('erin', { groups: ['/devs'] });
    const context = await chromium!.newContext();
    t.after(() => context.close());
    await (await signInThroughKeycloak(context, gw, kc!, erin)).page.waitForURL(`${gw.url}/`);
    const tokens = await cliLogin(context, gw);
    assert.equal((await whoami(context, gw)).status, 200);

    await kc!.admin.setEnabled(erin.id, false);

    const refused = await oauthToken(gw.url, { grant_type: 'refresh_token', refresh_token: tokens.refresh_token });
    assert.equal(refused.status, 400);
    assert.equal(refused.body.error, 'invalid_grant');
    assert.match(refused.body.error_description ?? '', /no longer accepts this login.*sign in again/);

    const failure = await gw.waitForEvent((e) => e.type === 'token.refreshed' && e.outcome === 'failure' && e.user === erin.username);
    assert.equal(failure.reason, 'upstream_revoked');
    assert.equal(failure.code, 'GH2011W');
    const revoked = await gw.waitForEvent((e) => e.type === 'user.upstream_revoked' && e.user === erin.username);
    assert.equal(revoked.code, 'GH1021W');
    assert.equal(revoked.reason, 'upstream_revoked');
    assert.equal(revoked.connector, 'keycloak');
    assert.equal(revoked.details?.via, 'refresh');
    assert.match(String(revoked.details?.upstream_error), /User disabled/, "Keycloak's own words");
    assert.ok(revoked.session_id, 'names the session that ended');

    const me = await whoami(context, gw);
    assert.equal(me.status, 401, 'the browser session ended');
    assert.equal(me.body.error, 'unauthenticated');
    const bearer = await fetch(`${gw.url}/api/v1/whoami`, { headers: { authorization: `Bearer ${tokens.access_token}` } });
    assert.equal(bearer.status, 401, "the CLI login's live access token is refused too");
    assert.equal(((await bearer.json()) as { error: string }).error, 'token_revoked');
    const again = await oauthToken(gw.url, { grant_type: 'refresh_token', refresh_token: tokens.refresh_token });
    assert.equal(again.body.error, 'invalid_grant', 'the CLI login stays revoked');
  });

  test('signed out by a Keycloak admin: the next refresh finds the Keycloak session gone', async (t) => {
    if (!(await ready(t))) return;
    const frank = await person('frank', { groups: ['/devs'] });
    const context = await chromium!.newContext();
    t.after(() => context.close());
    await (await signInThroughKeycloak(context, gw, kc!, frank)).page.waitForURL(`${gw.url}/`);
    const tokens = await cliLogin(context, gw);

    await kc!.admin.logoutUser(frank.id);
    assert.deepEqual(await kc!.admin.userSessions(frank.id), []);

    const refused = await oauthToken(gw.url, { grant_type: 'refresh_token', refresh_token: tokens.refresh_token });
    assert.equal(refused.body.error, 'invalid_grant');
    const revoked = await gw.waitForEvent((e) => e.type === 'user.upstream_revoked' && e.user === frank.username);
    assert.match(String(revoked.details?.upstream_error), /Session not active|not active/i);
    assert.equal((await whoami(context, gw)).status, 401);
  });
});
