import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { verifyAssertion } from '../../docs/examples/verify-assertion.mjs';
import { alice, bob, type AppsSetup } from '../helpers/gateways/apps.js';
import { type Nginx } from '../helpers/peers/nginx.js';
import { startNginxForwardAuth, type NginxForwardAuth } from '../helpers/gateways/nginx-forward-auth.js';
import { type Upstream } from '../helpers/peers/upstream.js';
import { ACCEPT_HTML, Browser } from '../helpers/browsers/browser.js';
import { openSignedIn } from '../helpers/browsers/sign-in.js';

/** The nginx snippet documented in docs/http-apps.md, pointed at this test's servers. */
function documentedNginxConfig(gatewayPort: number, upstreamPort: number): string {
  const doc = readFileSync(new URL('../../docs/http-apps.md', import.meta.url), 'utf8');
  const block = /```nginx\n([\s\S]*?)```/.exec(doc)?.[1];
  assert.ok(block, 'docs/http-apps.md has an nginx block');
  const replaced = block
    .replace('server 127.0.0.1:8080;', `server 127.0.0.1:${gatewayPort};`)
    .replace('server 127.0.0.1:3000;', `server 127.0.0.1:${upstreamPort};`)
    .replace('listen 80;', 'listen 127.0.0.1:{{PORT}};')
    .replaceAll('docs.example.com', 'docs.localhost');
  assert.notEqual(replaced, block);
  return replaced;
}

describe('forward-auth with a real nginx (auth_request → /auth/verify)', () => {
  let s: AppsSetup;
  let upstream: Upstream;
  let nginx: Nginx;
  let skip = false;
  let app: string;

  let setup: NginxForwardAuth | undefined;

  before(async (t) => {
    setup = await startNginxForwardAuth(t as never, documentedNginxConfig);
    if (!setup) return void (skip = true);
    ({ s, upstream, nginx, app } = setup);
  });
  after(() => setup?.stop());

  test('401 → redirect to sign-in → back to the same URL, allowed with identity headers', async (t) => {
    if (skip) return t.skip('nginx missing');
    const browser = new Browser({ accept: ACCEPT_HTML });
    const first = await browser.request(`${app}/page?a=1&b=2`);
    assert.equal(first.status, 302, nginx.errorLog());
    assert.match(first.location!, new RegExp(`^${s.gw.url}/auth/app/authorize\\?app=docs&state=`));
    const toLogin = await browser.request(first.location!);
    assert.equal(toLogin.status, 302);
    assert.equal(toLogin.location, `${s.gw.url}/login?return_to=${encodeURIComponent(`${app}/page?a=1&b=2`)}`);
    assert.equal(upstream.seen.length, 0, 'nothing reached the app before sign-in');

    const page = await openSignedIn(browser, `${app}/page?a=1&b=2`, bob, { headers: { 'x-forwarded-user': 'mallory' } });
    assert.equal(page.status, 200, page.body);
    assert.equal(page.url, `${app}/page?a=1&b=2`);
    const seen = JSON.parse(page.body) as { url: string; headers: Record<string, string> };
    assert.equal(seen.url, '/page?a=1&b=2');
    assert.equal(seen.headers['x-forwarded-user'], 'bob', 'the spoofed header was replaced');
    assert.equal(seen.headers['x-forwarded-email'], 'bob@corp.example');
    assert.equal(seen.headers['x-forwarded-groups'], 'devs');
    assert.doesNotMatch(seen.headers.cookie ?? '', /gatehouse_/, "Gatehouse's cookies do not reach the app");
    const claims = await verifyAssertion(seen.headers['gatehouse-jwt-assertion'], { gatehouseUrl: s.gw.url, audience: 'gatehouse-app:docs' });
    assert.equal(claims.preferred_username, 'bob');
    assert.ok(browser.cookies('docs.localhost').gatehouse_app_session, 'app cookie on the app host');
    assert.equal(browser.cookies('docs.localhost').gatehouse_session, undefined);
    const start = await s.gw.waitForEvent((e) => e.type === 'app.session.start' && e.user === 'bob');
    assert.equal((start.details as { app: string }).app, 'docs');
  });

  test('403 when the group check fails, audited; 200 for a member', async (t) => {
    if (skip) return t.skip('nginx missing');
    const browser = new Browser({ accept: ACCEPT_HTML });
    await openSignedIn(browser, `${app}/`, bob);
    const denied = await browser.request(`${app}/admin/settings`);
    assert.equal(denied.status, 403);
    assert.ok(!upstream.seen.some((r) => r.url.startsWith('/admin/')), 'nothing reached the app');
    const event = await s.gw.waitForEvent((e) => e.type === 'access.denied' && e.user === 'bob');
    assert.deepEqual((event.details as { allowed_groups: string[] }).allowed_groups, ['admins']);

    const admin = new Browser({ accept: ACCEPT_HTML });
    const page = await openSignedIn(admin, `${app}/admin/settings`, alice);
    assert.equal(page.status, 200);
    assert.equal(JSON.parse(page.body).headers['x-forwarded-user'], 'alice');
  });

  test('without a cookie, API clients get 401 from nginx (no redirect for non-browsers)', async (t) => {
    if (skip) return t.skip('nginx missing');
    const res = await new Browser({ accept: ACCEPT_HTML }).request(`${app}/api/x`, { headers: { accept: 'application/json' } });
    assert.equal(res.status, 401);
    assert.equal(JSON.parse(res.body).error, 'unauthenticated');
  });
});
