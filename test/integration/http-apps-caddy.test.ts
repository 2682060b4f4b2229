import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { verifyAssertion } from '../../docs/examples/verify-assertion.mjs';
import { alice, bob, startAppsGateway, type AppsSetup } from '../helpers/gateways/apps.js';
import { findCaddy, startCaddy, type Caddy } from '../helpers/peers/caddy.js';
import { skipOrFail } from '../helpers/peers/services.js';
import { startUpstream, type Upstream } from '../helpers/peers/upstream.js';
import { ACCEPT_HTML, Browser } from '../helpers/browsers/browser.js';
import { followConnector, signInThroughIdp } from '../helpers/browsers/sign-in.js';

/** The Caddyfile site documented in docs/http-apps.md, for app `name` on `<name>.localhost`, pointed at this test's servers. */
function documentedCaddySite(name: string, gatewayPort: number, upstreamPort: number): string {
  const doc = readFileSync(new URL('../../docs/http-apps.md', import.meta.url), 'utf8');
  const block = /```caddyfile\n([\s\S]*?)```/.exec(doc)?.[1];
  assert.ok(block, 'docs/http-apps.md has a caddyfile block');
  const replaced = block
    .replace('docs.example.com {', `http://${name}.localhost:{{PORT}} {\n\tbind 127.0.0.1`)
    .replaceAll('127.0.0.1:8080', `127.0.0.1:${gatewayPort}`)
    .replace('127.0.0.1:3000', `127.0.0.1:${upstreamPort}`)
    .replace('app=docs&', `app=${name}&`);
  assert.notEqual(replaced, block);
  assert.doesNotMatch(replaced, /example\.com|:8080|:3000/, 'every address was replaced');
  return replaced;
}

describe('forward-auth with a real Caddy (forward_auth → /auth/verify?signed_out=redirect)', () => {
  let s: AppsSetup;
  let upstream: Upstream;
  let caddy: Caddy;
  let skip = false;
  let docs: string;
  let ops: string;

  before(async (t) => {
    const bin = findCaddy();
    if (!bin) {
      skip = true;
      return skipOrFail(t as never, 'caddy is not installed (Debian package caddy)');
    }
    upstream = await startUpstream();
    s = await startAppsGateway([
      { name: 'docs', public_host: 'docs.localhost', roles: ['dev'] },
      { name: 'ops', public_host: 'ops.localhost', roles: ['sre'] },
    ]);
    const gatewayPort = Number(new URL(s.gw.url).port);
    caddy = await startCaddy(bin, ['docs', 'ops'].map((name) => documentedCaddySite(name, gatewayPort, upstream.port)).join('\n'));
    docs = `http://docs.localhost:${caddy.port}`;
    ops = `http://ops.localhost:${caddy.port}`;
  });
  after(async () => {
    if (skip) return;
    await caddy.stop();
    await s.stop();
    await upstream.close();
  });

  test('signed out → redirected to sign in → back to the same URL, allowed with identity headers', async (t) => {
    if (skip) return t.skip('caddy missing');
    const browser = new Browser({ accept: ACCEPT_HTML });
    const url = `${docs}/page?a=1&b=2`;
    // Caddy replaces the client's X-Forwarded-Host with the Host it served; a spoofed one changes nothing.
    const first = await browser.request(url, { headers: { 'x-forwarded-host': 'evil.example' } });
    assert.equal(first.status, 302, caddy.log());
    assert.equal(first.location, `${docs}/.gatehouse/start?rd=${encodeURIComponent('/page?a=1&b=2')}`);
    const handoff = await browser.request(first.location!);
    assert.equal(handoff.status, 302);
    assert.match(handoff.location!, new RegExp(`^${s.gw.url}/auth/app/authorize\\?app=docs&state=`));
    const toLogin = await browser.request(handoff.location!);
    assert.equal(toLogin.status, 302);
    assert.equal(toLogin.location, `${s.gw.url}/login?return_to=${encodeURIComponent(url)}`, 'the gateway sign-in, returning to the original URL');
    assert.equal(upstream.seen.length, 0, 'nothing reached the app before sign-in');

    const chooser = await browser.go(toLogin.location!);
    const page = await signInThroughIdp(browser, await followConnector(browser, chooser, 'corp'), bob);
    assert.equal(page.status, 200, page.body);
    assert.equal(page.url, url);
    const seen = JSON.parse(page.body) as { url: string; headers: Record<string, string> };
    assert.equal(seen.url, '/page?a=1&b=2');
    assert.equal(seen.headers['x-forwarded-user'], 'bob');
    assert.equal(seen.headers['x-forwarded-email'], 'bob@corp.example');
    assert.equal(seen.headers['x-forwarded-groups'], 'devs');
    assert.doesNotMatch(seen.headers.cookie ?? '', /gatehouse_/, "Gatehouse's cookies do not reach the app");
    const claims = await verifyAssertion(seen.headers['gatehouse-jwt-assertion'], { gatehouseUrl: s.gw.url, audience: 'gatehouse-app:docs' });
    assert.equal(claims.preferred_username, 'bob');
    assert.ok(browser.cookies('docs.localhost').gatehouse_app_session, 'app cookie on the app host');

    // Signed in: the next request goes straight through, spoofed identity headers are replaced,
    // and the app's own cookies arrive without Gatehouse's.
    const appCookie = browser.cookies('docs.localhost').gatehouse_app_session;
    const again = await browser.request(`${docs}/other`, {
      headers: {
        'x-forwarded-user': 'mallory',
        'x-forwarded-email': 'mallory@evil.example',
        cookie: `app_pref=dark; gatehouse_app_session=${appCookie}; theme=x`,
      },
    });
    assert.equal(again.status, 200);
    const headers = (JSON.parse(again.body) as { headers: Record<string, string> }).headers;
    assert.equal(headers['x-forwarded-user'], 'bob');
    assert.equal(headers['x-forwarded-email'], 'bob@corp.example');
    assert.equal(headers.cookie, 'app_pref=dark; theme=x');
  });

  test('signed in without access → 403 from Gatehouse, audited, nothing reaches the app', async (t) => {
    if (skip) return t.skip('caddy missing');
    const browser = new Browser({ accept: ACCEPT_HTML });
    // bob (devs → dev) signs in through docs, then opens ops (roles: sre).
    const chooser = await browser.go(`${docs}/`);
    await signInThroughIdp(browser, await followConnector(browser, chooser, 'corp'), bob);
    const denied = await browser.go(`${ops}/secret`);
    assert.equal(denied.status, 403, denied.body);
    assert.ok(!upstream.seen.some((r) => r.url === '/secret'), 'nothing reached the app');
    await s.gw.waitForEvent((e) => e.type === 'access.denied' && e.user === 'bob' && (e.details as { app?: string }).app === 'ops');

    const admin = new Browser({ accept: ACCEPT_HTML });
    const signIn = await admin.go(`${ops}/secret`);
    const page = await signInThroughIdp(admin, await followConnector(admin, signIn, 'corp'), alice);
    assert.equal(page.status, 200);
    assert.equal(page.url, `${ops}/secret`);
    assert.equal(JSON.parse(page.body).headers['x-forwarded-user'], 'alice');
  });

  test('API clients and non-GET requests get 401, not a redirect', async (t) => {
    if (skip) return t.skip('caddy missing');
    const api = await new Browser().request(`${docs}/api/x`, { headers: { accept: 'application/json' } });
    assert.equal(api.status, 401);
    assert.equal(JSON.parse(api.body).error, 'unauthenticated');
    const post = await new Browser({ accept: ACCEPT_HTML }).request(`${docs}/form`, { method: 'POST', form: { a: '1' } });
    assert.equal(post.status, 401);
    assert.equal(post.location, undefined);
  });

  test('a forged X-Forwarded-Host sent to /auth/verify directly → 400 return_to_rejected, no Location, audited', async (t) => {
    if (skip) return t.skip('caddy missing');
    for (const host of ['evil.example', `ops.localhost:${caddy.port}`, 'docs.localhost.evil.example', `docs.localhost:${caddy.port}, evil.example`]) {
      const res = await fetch(`${s.gw.url}/auth/verify?app=docs&signed_out=redirect`, {
        redirect: 'manual',
        headers: { accept: ACCEPT_HTML, 'x-forwarded-method': 'GET', 'x-forwarded-proto': 'http', 'x-forwarded-host': host, 'x-forwarded-uri': '/x' },
      });
      assert.equal(res.status, 400, host);
      assert.equal(res.headers.get('location'), null);
      assert.equal(((await res.json()) as { error: string }).error, 'return_to_rejected');
      const requestId = res.headers.get('x-request-id');
      const event = await s.gw.waitForEvent((e) => e.type === 'app.session.start' && e.request_id === requestId);
      assert.equal(event.outcome, 'failure');
      assert.equal(event.reason, 'return_to_rejected');
      assert.deepEqual(event.details, { app: 'docs', via: 'forward-auth' });
    }
    const bad = await fetch(`${s.gw.url}/auth/verify?app=docs&signed_out=maybe`);
    assert.equal(bad.status, 400);
    assert.equal(((await bad.json()) as { error: string }).error, 'invalid_request');
  });
});
