import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startEmbeddedIdp, type EmbeddedIdp } from '../../src/demo-idp/server.js';
import { Browser, formAction, hiddenInputs } from '../helpers/browsers/browser.js';
import { startGateway, type TestGateway } from '../helpers/gateways/gateway.js';
import { closedPort, REDIS_URL, requireRedis } from '../helpers/peers/services.js';
import { logIn } from '../helpers/browsers/sign-in.js';

const alice = { username: 'alice', password: 'alice-pw', email: 'alice@example.com', groups: ['admins', 'devs'] }; // secret-scan: allow
const bob = { username: 'bob', password: 'bob-pw', email: 'bob@corp.example', groups: ['devs'] }; // secret-scan: allow

interface Setup {
  gw: TestGateway;
  corp: EmbeddedIdp & { url: string };
  partner: EmbeddedIdp & { url: string };
}

/** Two real IdPs (oidc-provider with login and consent forms) and a gateway using both. */
async function setUp(state: Record<string, unknown> = {}): Promise<Setup> {
  const port = await closedPort();
  const gateway = `http://127.0.0.1:${port}`;
  const client = (id: string) => ({
    client_id: 'gatehouse',
    client_secret: `secret-${id}`,
    redirect_uris: [`${gateway}/callback/${id}`],
    post_logout_redirect_uris: [`${gateway}/login`],
  });
  const corp = await startEmbeddedIdp({ users: [alice], clients: [client('corp')], title: 'Corp IdP' });
  const partner = await startEmbeddedIdp({ users: [bob], clients: [client('partner')], title: 'Partner IdP' });
  const connector = (id: string, idp: EmbeddedIdp, name: string) => ({
    type: 'oidc',
    id,
    name,
    issuer: idp.issuer,
    client_id: 'gatehouse',
    client_secret: `secret-${id}`,
    scopes: ['openid', 'email', 'profile', 'groups'],
  });
  const gw = await startGateway({ state, connectors: [connector('corp', corp, 'Corp SSO'), connector('partner', partner, 'Partner SSO')] }, { port });
  return { gw, corp, partner };
}

async function whoami(browser: Browser, gw: TestGateway) {
  const page = await browser.request(`${gw.url}/api/v1/whoami`);
  return { status: page.status, body: JSON.parse(page.body) as Record<string, unknown> };
}

for (const backend of ['memory', 'redis'] as const) {
  describe(`OIDC browser login (${backend} store)`, () => {
    let s: Setup;
    let skip = false;
    before(async (t) => {
      if (backend === 'redis' && !(await requireRedis(t as never))) return void (skip = true);
      s = await setUp(backend === 'redis' ? { redis_url: REDIS_URL, redis_prefix: `gatehouse-test:${process.pid}:${Date.now()}:` } : {});
    });
    after(async () => {
      if (skip) return;
      await s.gw.stop();
      await s.corp.close();
      await s.partner.close();
    });

    test('chooser → IdP forms → callback → session → whoami', async (t) => {
      if (skip) return t.skip('redis unavailable');
      const browser = new Browser();
      const callback = await logIn(browser, s.gw, 'Corp SSO', alice);
      assert.equal(callback.status, 302);
      assert.equal(callback.location, `${s.gw.url}/`);
      const me = await whoami(browser, s.gw);
      assert.equal(me.status, 200);
      assert.equal(me.body.username, 'alice');
      assert.equal(me.body.email, 'alice@example.com');
      assert.deepEqual(me.body.groups, ['admins', 'devs']);
      assert.equal(me.body.connector, 'corp');

      const login = s.gw.auditEvents().find((e) => e.type === 'user.login' && e.outcome === 'success');
      assert.ok(login, 'user.login success audited');
      assert.equal(login.user, 'alice');
      assert.equal(login.connector, 'corp');
      assert.equal(login.code, 'GH1000I');
      assert.ok(login.session_id && !login.session_id.includes(browser.cookie('gatehouse_session')!), 'audit carries a session digest, not the id');
    });

    test('a second connector logs in a person from another IdP', async (t) => {
      if (skip) return t.skip('redis unavailable');
      const browser = new Browser();
      await logIn(browser, s.gw, 'Partner SSO', bob);
      const me = await whoami(browser, s.gw);
      assert.equal(me.body.username, 'bob');
      assert.equal(me.body.connector, 'partner');
      assert.deepEqual(me.body.groups, ['devs']);
    });

    test('return_to is honoured after login', async (t) => {
      if (skip) return t.skip('redis unavailable');
      const browser = new Browser();
      const callback = await logIn(browser, s.gw, 'Corp SSO', alice, '/api/v1/whoami?x=1');
      assert.equal(callback.location, `${s.gw.url}/api/v1/whoami?x=1`);
    });

    test('logout ends the session and sends the browser to the IdP with id_token_hint', async (t) => {
      if (skip) return t.skip('redis unavailable');
      const browser = new Browser();
      await logIn(browser, s.gw, 'Corp SSO', alice);
      assert.equal((await whoami(browser, s.gw)).status, 200);
      // GET /logout asks; its form POSTs with the CSRF token.
      const confirm = await browser.request(`${s.gw.url}/logout`);
      assert.equal(confirm.status, 200);
      assert.equal((await whoami(browser, s.gw)).status, 200, 'GET /logout alone signs no one out');
      const out = await browser.request(new URL(formAction(confirm.body, 'logout')!, s.gw.url).href, { form: hiddenInputs(confirm.body) });
      assert.equal(out.status, 302);
      const endSession = new URL(out.location!);
      assert.equal(endSession.origin, new URL(s.corp.issuer).origin);
      assert.ok(endSession.searchParams.get('id_token_hint'), 'id_token_hint sent');
      assert.equal(endSession.searchParams.get('post_logout_redirect_uri'), `${s.gw.url}/login`);
      const me = await whoami(browser, s.gw);
      assert.equal(me.status, 401);
      assert.equal(me.body.error, 'unauthenticated');
      assert.ok(s.gw.auditEvents().some((e) => e.type === 'user.logout' && e.user === 'alice'));
    });
  });
}

describe('gateway session cookie and issuer', () => {
  let s: Setup;
  before(async () => {
    s = await setUp();
  });
  after(async () => {
    await s.gw.stop();
    await s.corp.close();
    await s.partner.close();
  });

  test('session cookie is HttpOnly, SameSite=Lax, not Secure on plain loopback, renewed at each login', async () => {
    const browser = new Browser();
    const res = await fetch(`${s.gw.url}/login/corp`, { redirect: 'manual' });
    const binding = res.headers.getSetCookie().find((c) => c.startsWith('gatehouse_login_'));
    assert.ok(binding, 'login binding cookie set');
    assert.match(binding, /HttpOnly/i);
    assert.match(binding, /SameSite=Lax/i);
    assert.doesNotMatch(binding, /Secure/i);

    await logIn(browser, s.gw, 'Corp SSO', alice);
    const first = browser.cookie('gatehouse_session');
    // The IdP remembers alice, so the second login runs through without forms.
    const again = await browser.go(`${s.gw.url}/login/corp`);
    assert.equal(again.status, 200);
    const second = browser.cookie('gatehouse_session');
    assert.ok(first && second && first !== second, 'new session id at login');
    const stale = await fetch(`${s.gw.url}/api/v1/whoami`, { headers: { cookie: `gatehouse_session=${first}` } });
    assert.equal(stale.status, 401, 'the previous session ended');
  });

  test('pages carry security headers', async () => {
    const res = await fetch(`${s.gw.url}/login`);
    assert.match(res.headers.get('content-security-policy') ?? '', /frame-ancestors 'none'/);
    assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
    assert.equal(res.headers.get('referrer-policy'), 'no-referrer');
  });

  test('discovery names the public URL as issuer and the gateway token verifies against the JWKS', async () => {
    const discovery = (await (await fetch(`${s.gw.url}/.well-known/openid-configuration`)).json()) as Record<string, string>;
    assert.equal(discovery.issuer, s.gw.url);
    assert.equal(discovery.jwks_uri, `${s.gw.url}/.well-known/jwks.json`);
    const browser = new Browser();
    await logIn(browser, s.gw, 'Corp SSO', alice);
    const home = await browser.request(`${s.gw.url}/`);
    assert.equal(home.status, 200);
    assert.match(home.body, /id="username">alice</);
    const claims = JSON.parse(/<pre id="token-claims">([\s\S]*?)<\/pre>/.exec(home.body)![1].replaceAll('&quot;', '"'));
    assert.equal(claims.iss, s.gw.url);
    assert.deepEqual(claims.groups, ['admins', 'devs']);
    const jwks = (await (await fetch(discovery.jwks_uri)).json()) as { keys: { kid: string; alg: string; d?: string }[] };
    assert.equal(jwks.keys.length, 1);
    assert.equal(jwks.keys[0].alg, 'ES256');
    assert.equal(jwks.keys[0].d, undefined, 'no private key material published');
  });

  test('/healthz and /readyz', async () => {
    assert.equal((await fetch(`${s.gw.url}/healthz`)).status, 200);
    const ready = await fetch(`${s.gw.url}/readyz`);
    assert.equal(ready.status, 200);
    assert.deepEqual(((await ready.json()) as { checks: unknown }).checks, { audit: 'ok', store: 'ok', signing_keys: 'ok' });
  });
});
