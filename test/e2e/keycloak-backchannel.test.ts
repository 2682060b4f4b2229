// OpenID Connect Back-Channel Logout 1.0 against the run's real Keycloak, and its refusals.
//
// (a) The realm's `gatehouse` client registers `http://gatehouse:8080/backchannel-logout/keycloak`
//     (the compose stack's gateway) with "backchannel logout session required"; this test proves
//     those settings on a copy of that client whose URL points at this test's gateway (Keycloak is
//     shared by every file: the original is left alone). Chromium signs in on Keycloak's form, the
//     CLI logs in from that session, a web terminal and a stock `ssh -J` session are opened; then a
//     Keycloak admin ends the person's Keycloak sessions, and Keycloak posts a logout token: the
//     browser is back at the login page, the CLI login cannot refresh (`invalid_grant`) and its live
//     access token is refused (`token_revoked`), the web terminal and the ssh session end.
// (b) Logout tokens Keycloak would never send, signed by a stand-in IdP (discovery and a JWKS on a
//     free port, keys generated here): each is 400 with its reason and `check`, and audited.
import assert from 'node:assert/strict';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test, type TestContext } from 'node:test';
import { base64url, exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWTPayload } from 'jose';
import type { BrowserContext } from 'playwright-core';
import WebSocket from 'ws';
import { launchChromium } from '../helpers/browsers/chromium.js';
import { CLI_CLIENT, CLI_REDIRECT, oauthToken, type CliTokens } from '../helpers/gateways/cli-oauth.js';
import { startGateway, type TestGateway } from '../helpers/gateways/gateway.js';
import { requireKeycloak, KEYCLOAK_CLIENT_ID, type Keycloak } from '../helpers/peers/keycloak.js';
import { closedPort } from '../helpers/peers/services.js';
import { fetchUserCert, keygen, NODE_LOGIN, prepareSshd, writeClientConfig } from '../helpers/peers/ssh.js';
import { startChild } from '../helpers/processes.js';

const EVENT = 'http://schemas.openid.net/event/backchannel-logout';
const COMPOSE_URL = 'http://gatehouse:8080/backchannel-logout/keycloak';

const policy = {
  roles: [{ name: 'ops', logins: [NODE_LOGIN], node_labels: { env: ['*'] } }],
  mappings: [{ match: { connector: 'keycloak', claim: 'groups', value: 'devs' }, roles: ['ops'] }],
};

/** Chromium: the gateway's login page → Keycloak's form → back on the gateway's home page. */
async function signIn(context: BrowserContext, gw: TestGateway, kc: Keycloak, user: { username: string; password: string }) {
  const page = await context.newPage();
  await page.goto(`${gw.url}/`);
  await page.waitForURL(`${gw.url}/login**`);
  await page.click('#connector-keycloak');
  await page.waitForURL(`${kc.issuer}/protocol/openid-connect/auth**`);
  await page.fill('#username', user.username);
  await page.fill('#password', user.password);
  await page.click('#kc-login');
  await page.waitForURL(`${gw.url}/`);
  return page;
}

/** `gatehouse login`'s loopback code flow, authorised by Chromium's gateway session. */
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
  const code = new URL(res.headers().location).searchParams.get('code');
  assert.ok(code, res.headers().location);
  const tokens = await oauthToken(gw.url, { grant_type: 'authorization_code', code, code_verifier: verifier, redirect_uri: CLI_REDIRECT });
  assert.equal(tokens.status, 200, JSON.stringify(tokens.body));
  return tokens.body;
}

/** A copy of the realm's gatehouse client (mappers and all) under another id, with its back-channel URL at `url`. */
async function copyClient(kc: Keycloak, clientId: string, secret: string, url: string): Promise<string> {
  const [original] = await kc.admin.call<Record<string, unknown>[]>('GET', `/clients?clientId=${KEYCLOAK_CLIENT_ID}`);
  const { id: _id, protocolMappers, attributes, ...rest } = original as { id: string; protocolMappers?: { id?: string }[]; attributes: Record<string, string> };
  await kc.admin.call('POST', '/clients', {
    ...rest,
    clientId,
    secret,
    attributes: { ...attributes, 'backchannel.logout.url': url },
    protocolMappers: (protocolMappers ?? []).map(({ id: _mapperId, ...mapper }) => mapper),
  });
  const [copy] = await kc.admin.call<{ id: string }[]>('GET', `/clients?clientId=${encodeURIComponent(clientId)}`);
  return copy.id;
}

describe('OIDC back-channel logout from Keycloak', () => {
  const cleanup: (() => Promise<unknown>)[] = [];
  after(async () => {
    for (const step of cleanup.reverse()) await step().catch(() => undefined);
  });

  test(
    'a Keycloak admin ends the person’s sessions: the Gatehouse session, the CLI login, a web terminal and an ssh session end',
    { timeout: 180_000 },
    async (t) => {
      const kc = await requireKeycloak(t);
      const chromium = kc && (await launchChromium(t));
      const node = kc && chromium && (await prepareSshd(t));
      if (!kc || !chromium || !node) return;

      // The realm file's settings, as Keycloak imported them.
      const [original] = await kc.admin.call<{ attributes: Record<string, string>; frontchannelLogout?: boolean }[]>(
        'GET',
        `/clients?clientId=${KEYCLOAK_CLIENT_ID}`,
      );
      assert.equal(original.attributes['backchannel.logout.url'], COMPOSE_URL);
      assert.equal(original.attributes['backchannel.logout.session.required'], 'true');
      assert.equal(original.frontchannelLogout, false);

      const clientId = `gatehouse-bcl-${randomBytes(4).toString('hex')}`;
      const clientSecret = randomBytes(18).toString('base64url');
      const gw = await startGateway({
        connectors: [
          {
            type: 'oidc',
            id: 'keycloak',
            name: 'Keycloak',
            issuer: kc.issuer,
            client_id: clientId,
            client_secret: clientSecret,
            scopes: ['openid', 'email', 'profile'],
          },
        ],
        ...policy,
        ssh: {
          listen: `127.0.0.1:${await closedPort()}`,
          nodes: [{ name: 'node1', addr: `127.0.0.1:${node.port}`, labels: { env: 'dev' }, host_key: node.hostKey }],
        },
      });
      cleanup.push(() => gw.stop());
      const kcClient = await copyClient(kc, clientId, clientSecret, `${gw.url}/backchannel-logout/keycloak`);
      cleanup.push(() => kc.admin.call('DELETE', `/clients/${kcClient}`));
      const sshd = await node.start(await (await fetch(`${gw.url}/api/v1/ssh/ca?type=user`)).text());
      cleanup.push(() => sshd.stop());
      const user = await kc.admin.createUser({ username: `gina-${randomBytes(4).toString('hex')}`, groups: ['/devs'] });
      cleanup.push(() => kc.admin.deleteUser(user.id));

      const context = await chromium.newContext();
      t.after(() => context.close());
      const page = await signIn(context, gw, kc, user);
      const tokens = await cliLogin(context, gw);
      const cookie = (await context.cookies(gw.url)).find((c) => c.name === 'gatehouse_session')!.value;

      // A web terminal of this session.
      const ws = new WebSocket(`${gw.url.replace('http', 'ws')}/terminal/node1/ws?login=${NODE_LOGIN}`, {
        headers: { cookie: `gatehouse_session=${cookie}`, origin: gw.url },
      });
      const messages: unknown[] = [];
      ws.on('message', (data, isBinary) => !isBinary && messages.push(JSON.parse(data.toString())));
      const wsClosed = new Promise((resolve) => ws.once('close', resolve));
      await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));

      // A stock ssh session through the gateway, with a certificate the CLI login fetched.
      const dir = mkdtempSync(join(tmpdir(), 'gatehouse-bcl-'));
      cleanup.push(async () => rmSync(dir, { recursive: true, force: true }));
      const key = keygen(dir, 'id');
      const cert = await fetchUserCert(gw.url, tokens.access_token, key);
      writeFileSync(join(dir, 'known_hosts'), `${cert.known_hosts}\n`);
      const config = writeClientConfig(dir, {
        key,
        knownHosts: join(dir, 'known_hosts'),
        proxy: `127.0.0.1:${gw.gateway.ssh!.address().port}`,
        nodes: ['node1'],
      });
      const { child } = startChild('ssh', ['-F', config, `${NODE_LOGIN}@node1`, 'echo started; exec sleep 120'], { stdio: ['ignore', 'pipe', 'pipe'] });
      const sshClosed = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
        child.on('exit', (code, signal) => resolve({ code, signal })),
      );
      await new Promise<void>((resolve) => child.stdout!.on('data', (d: Buffer) => d.toString().includes('started') && resolve()));

      // The admin console's "Sign out" of the person: Keycloak posts a logout token to the client.
      await kc.admin.logoutUser(user.id);

      const logout = await gw.waitForEvent((e) => e.type === 'user.backchannel_logout' && e.user === user.username, 15_000);
      assert.equal(logout.outcome, 'success');
      assert.equal(logout.code, 'GH1030I');
      assert.equal(logout.connector, 'keycloak');
      assert.equal(logout.details?.sessions_ended, 1);
      assert.ok(logout.details?.sid, "Keycloak sends the session's sid (backchannel logout session required)");
      assert.equal((logout.details?.cli_logins_revoked as string[]).length, 1, 'the CLI login made from the session');
      assert.ok(logout.session_id);

      // The browser: signed out, back at the login page.
      await page.goto(`${gw.url}/`);
      await page.waitForURL(`${gw.url}/login**`);
      assert.equal((await context.request.get(`${gw.url}/api/v1/whoami`)).status(), 401);

      // The CLI login: its live access token is refused, and it cannot refresh.
      const bearer = await fetch(`${gw.url}/api/v1/whoami`, { headers: { authorization: `Bearer ${tokens.access_token}` } });
      assert.equal(bearer.status, 401);
      assert.equal(((await bearer.json()) as { error: string }).error, 'token_revoked');
      const refused = await oauthToken(gw.url, { grant_type: 'refresh_token', refresh_token: tokens.refresh_token });
      assert.equal(refused.status, 400);
      assert.equal(refused.body.error, 'invalid_grant');

      // Live sessions started from that login.
      await wsClosed;
      assert.deepEqual(messages, [{ type: 'ended', reason: 'signed out' }]);
      const ssh = await sshClosed;
      assert.equal(ssh.signal, null, 'ended by the gateway, not by the test');
      assert.equal(ssh.code, 255);
      await gw.waitForEvent((e) => e.type === 'session.end' && e.details?.via === 'web-terminal' && e.user === user.username);
    },
  );
});

/** A stand-in IdP: discovery and a JWKS with one RS256 key; it signs whatever logout token a test asks for. */
async function startSigningIdp(clientId: string) {
  const { privateKey, publicKey } = await generateKeyPair('RS256');
  const stranger = await generateKeyPair('RS256');
  const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' };
  let issuer = '';
  const server: Server = createServer((req, res) => {
    res.setHeader('content-type', 'application/json');
    if (req.url === '/.well-known/openid-configuration')
      return res.end(
        JSON.stringify({
          issuer,
          authorization_endpoint: `${issuer}/auth`,
          token_endpoint: `${issuer}/token`,
          jwks_uri: `${issuer}/jwks`,
          id_token_signing_alg_values_supported: ['RS256', 'HS256'],
          response_types_supported: ['code'],
          subject_types_supported: ['public'],
        }),
      );
    if (req.url === '/jwks') return res.end(JSON.stringify({ keys: [jwk] }));
    res.statusCode = 404;
    res.end('{}');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const claims = (extra: JWTPayload = {}): JWTPayload => ({
    iss: issuer,
    aud: clientId,
    iat: Math.floor(Date.now() / 1000),
    exp: Math.floor(Date.now() / 1000) + 120,
    jti: randomUUID(),
    sid: 'idp-session-1',
    events: { [EVENT]: {} },
    ...extra,
  });
  const sign = (payload: JWTPayload, key: CryptoKey = privateKey) => new SignJWT(payload).setProtectedHeader({ alg: 'RS256', kid: 'k1' }).sign(key);
  return { issuer, claims, sign, strangerKey: stranger.privateKey, close: () => new Promise((resolve) => server.close(resolve)) };
}

describe('back-channel logout refusals (a stand-in IdP signs what Keycloak never would)', () => {
  let idp: Awaited<ReturnType<typeof startSigningIdp>>;
  let gw: TestGateway;
  after(async () => {
    await gw?.stop();
    await idp?.close();
  });

  const post = async (connector: string, body: string, type = 'application/x-www-form-urlencoded') => {
    const res = await fetch(`${gw.url}/backchannel-logout/${connector}`, { method: 'POST', headers: { 'content-type': type }, body });
    return { status: res.status, cache: res.headers.get('cache-control'), body: res.status === 200 ? {} : ((await res.json()) as Record<string, string>) };
  };
  const logout = (token: string) => post('corp', new URLSearchParams({ logout_token: token }).toString());

  const ready = async (_t: TestContext) => {
    idp ??= await startSigningIdp('gatehouse');
    gw ??= await startGateway({ connectors: [{ type: 'oidc', id: 'corp', issuer: idp.issuer, client_id: 'gatehouse', client_secret: 'unused' }] }); // secret-scan: allow
  };

  test('a valid token is 200 with Cache-Control: no-store and audited; its jti replayed is refused', async (t) => {
    await ready(t);
    const token = await idp.sign(idp.claims({ jti: 'replay-me' }));
    const ok = await logout(token);
    assert.equal(ok.status, 200);
    assert.equal(ok.cache, 'no-store');
    const event = await gw.waitForEvent((e) => e.type === 'user.backchannel_logout' && e.details?.jti === 'replay-me');
    assert.equal(event.outcome, 'success');
    assert.equal(event.details?.sessions_ended, 0, 'no session of that sid here');

    const again = await logout(token);
    assert.equal(again.status, 400);
    assert.equal(again.cache, 'no-store');
    assert.deepEqual(again.body.error, 'invalid_request');
    assert.equal(again.body.reason, 'logout_token_replayed');
    const refused = await gw.waitForEvent((e) => e.type === 'user.backchannel_logout' && e.reason === 'logout_token_replayed');
    assert.equal(refused.outcome, 'failure');
    assert.equal(refused.code, 'GH1031W');
  });

  test('bad tokens: each is 400 with its reason and check, and audited', async (t) => {
    await ready(t);
    const unsigned = `${base64url.encode('{"alg":"none"}')}.${base64url.encode(JSON.stringify(idp.claims()))}.`;
    const hs256 = await new SignJWT(idp.claims()).setProtectedHeader({ alg: 'HS256', kid: 'k1' }).sign(crypto.getRandomValues(new Uint8Array(32)));
    const cases: [string, string, string, string][] = [
      ['wrong signature', await idp.sign(idp.claims(), idp.strangerKey), 'logout_token_signature', 'signature'],
      ['alg none', unsigned, 'logout_token_signature', 'alg'],
      ['HS256 (advertised, never accepted)', hs256, 'logout_token_signature', 'alg'],
      ['wrong iss', await idp.sign(idp.claims({ iss: 'http://127.0.0.1:9' })), 'logout_token_invalid', 'iss'],
      ['wrong aud', await idp.sign(idp.claims({ aud: 'another-client' })), 'logout_token_invalid', 'aud'],
      ['missing events', await idp.sign(idp.claims({ events: undefined })), 'logout_token_invalid', 'events'],
      ['with nonce', await idp.sign(idp.claims({ nonce: 'n' })), 'logout_token_invalid', 'nonce'],
      ['missing jti', await idp.sign(idp.claims({ jti: undefined })), 'logout_token_invalid', 'jti'],
      ['neither sub nor sid', await idp.sign(idp.claims({ sid: undefined })), 'logout_token_invalid', 'sub_sid'],
      ['expired', await idp.sign(idp.claims({ iat: 1_700_000_000, exp: 1_700_000_100 })), 'logout_token_invalid', 'exp'],
      ['not a JWT', 'garbage', 'logout_token_invalid', 'malformed'],
    ];
    for (const [name, token, reason, check] of cases) {
      const res = await logout(token);
      assert.equal(res.status, 400, name);
      assert.equal(res.cache, 'no-store', name);
      assert.equal(res.body.error, 'invalid_request', name);
      assert.ok(res.body.error_description, name);
      assert.equal(res.body.reason, reason, name);
      assert.equal(res.body.check, check, name);
    }
    const audited = gw.auditEvents().filter((e) => e.type === 'user.backchannel_logout' && e.outcome === 'failure' && e.reason !== 'logout_token_replayed');
    assert.deepEqual(
      audited.map((e) => `${e.reason} ${e.details?.check}`),
      cases.map(([, , reason, check]) => `${reason} ${check}`),
    );
    assert.ok(audited.every((e) => e.connector === 'corp' && e.code === 'GH1031W'));

    const missing = await post('corp', 'other=1');
    assert.equal(missing.status, 400);
    assert.equal(missing.body.check, 'logout_token');
    const json = await post('corp', JSON.stringify({ logout_token: 'x' }), 'application/json');
    assert.equal(json.status, 400, 'a JSON body is not the form the spec requires');
    const unknown = await post('nope', 'logout_token=x');
    assert.equal(unknown.status, 404);
    assert.equal(unknown.body.reason, 'unknown_connector');
  });
});
