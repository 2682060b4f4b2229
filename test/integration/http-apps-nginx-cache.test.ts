// The opt-in forward-auth micro-cache (deploy/nginx/gatehouse-auth-cache*.conf, documented in
// docs/http-apps.md) in a real nginx, on the documented forward-auth configuration:
// - access works through the cache: answers within a second are cache hits, with the identity
//   headers of the person;
// - requests without a Gatehouse cookie are never answered from the cache;
// - a sign-out on the app host, and the end of the gateway session (revocation of every app
//   session born of it), end access through nginx within the cache's bound: a request made 1.1 s
//   after the sign-out is refused. That is a correctness bound from the cache's lifetime (the
//   answer may be reused only within the second it was fetched in), not a speed measurement.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import { bob, type AppsSetup } from '../helpers/gateways/apps.js';
import { eventually } from '../helpers/eventually.js';
import { gatehouseAuthCache, type Nginx } from '../helpers/peers/nginx.js';
import { startNginxForwardAuth, type NginxForwardAuth } from '../helpers/gateways/nginx-forward-auth.js';
import { type Upstream } from '../helpers/peers/upstream.js';
import { ACCEPT_HTML, Browser } from '../helpers/browsers/browser.js';
import { openSignedIn } from '../helpers/browsers/sign-in.js';

/** How long a cached answer may outlive a sign-out: the second it was fetched in. */
const CACHE_BOUND_MS = 1000;
/** When the test checks the bound: a little after it, so clock granularity cannot decide. */
const CHECK_AFTER_MS = 1100;
/** Past the bound, only for how long the waiting may take on a loaded machine (requests in flight). */
const MARGIN_MS = 400;

/**
 * After a sign-out at `signedOutAt`: the replayed cookie is refused within the bound (checked
 * while waiting, with a deadline of the bound plus a margin), and a request made 1.1 s after the
 * sign-out is refused.
 */
async function refusedWithinBound<P extends { status: number }>(signedOutAt: number, request: () => Promise<P>, what: string): Promise<P> {
  await eventually(async () => (await request()).status === 302, {
    timeoutMs: Math.max(0, signedOutAt + CACHE_BOUND_MS + MARGIN_MS - Date.now()),
    intervalMs: 20,
    message: `${what} was still let through ${CACHE_BOUND_MS + MARGIN_MS} ms after the sign-out`,
  });
  await sleep(Math.max(0, signedOutAt + CHECK_AFTER_MS - Date.now()));
  return request();
}

/**
 * The documented nginx configuration (docs/http-apps.md's first nginx block) with the micro-cache
 * switched on as that page says, plus one test-only line: the verify answer's cache status goes
 * to the app as X-Auth-Cache, so the test sees hits.
 */
function cachedNginxConfig(gatewayPort: number, upstreamPort: number): string {
  const doc = readFileSync(new URL('../../docs/http-apps.md', import.meta.url), 'utf8');
  const block = /```nginx\n([\s\S]*?)```/.exec(doc)?.[1];
  assert.ok(block, 'docs/http-apps.md has an nginx block');
  assert.match(doc, /include \/etc\/nginx\/gatehouse-auth-cache-http\.conf;/, 'the page shows the http part');
  assert.match(doc, /internal;\n\s+include \/etc\/nginx\/gatehouse-auth-cache\.conf;/, 'the page shows the location part after internal;');
  const cache = gatehouseAuthCache();
  const verifyLocations = (block.match(/internal;\n/g) ?? []).length;
  assert.equal(verifyLocations, 2, 'both verify locations get the cache');
  return [
    cache.http,
    block
      .replace('server 127.0.0.1:8080;', `server 127.0.0.1:${gatewayPort};`)
      .replace('server 127.0.0.1:3000;', `server 127.0.0.1:${upstreamPort};`)
      .replace('listen 80;', 'listen 127.0.0.1:{{PORT}};')
      .replaceAll('docs.example.com', 'docs.localhost')
      .replaceAll('internal;\n', `internal;\n    include ${cache.locationFile};\n`)
      .replace(
        'auth_request_set $gatehouse_assertion $upstream_http_gatehouse_jwt_assertion;',
        'auth_request_set $gatehouse_assertion $upstream_http_gatehouse_jwt_assertion;\n    auth_request_set $gatehouse_auth_cache $upstream_cache_status;\n    proxy_set_header X-Auth-Cache $gatehouse_auth_cache;',
      ),
  ].join('\n');
}

describe('forward-auth micro-cache in a real nginx (deploy/nginx/gatehouse-auth-cache*.conf)', () => {
  let s: AppsSetup;
  let upstream: Upstream;
  let nginx: Nginx;
  let skip = false;
  let app: string;

  let setup: NginxForwardAuth | undefined;

  before(async (t) => {
    setup = await startNginxForwardAuth(t as never, cachedNginxConfig);
    if (!setup) return void (skip = true);
    ({ s, upstream, nginx, app } = setup);
  });
  after(() => setup?.stop());

  /** A browser signed in to the app through nginx, and its app cookie as a Cookie header. */
  const signIn = async () => {
    const browser = new Browser({ accept: ACCEPT_HTML });
    const page = await openSignedIn(browser, `${app}/start`, bob);
    assert.equal(page.status, 200, `${page.body}\n${nginx.errorLog()}`);
    const cookie = browser.cookies('docs.localhost').gatehouse_app_session;
    assert.ok(cookie, 'an app cookie on the app host');
    return { browser, cookie: `gatehouse_app_session=${cookie}` };
  };
  /** One request with exactly this Cookie header (a replayed cookie: no jar). */
  const replay = (cookie: string, path = '/page') => new Browser({ accept: ACCEPT_HTML }).request(`${app}${path}`, { headers: { cookie } });
  const seenBy = (page: { body: string }) => JSON.parse(page.body) as { url: string; headers: Record<string, string> };
  /** Until nginx answers this cookie from its cache (the first request of a second asks Gatehouse). */
  const cachedAnswer = (cookie: string) =>
    eventually(
      async () => {
        const page = await replay(cookie);
        assert.equal(page.status, 200);
        assert.equal(seenBy(page).headers['x-forwarded-user'], 'bob');
        return seenBy(page).headers['x-auth-cache'] === 'HIT';
      },
      { timeoutMs: 5000, message: 'no answer came from the cache' },
    );

  test('access works through the cache: hits within the second carry the identity headers', async (t) => {
    if (skip) return t.skip('nginx missing');
    const { cookie } = await signIn();
    const statuses: string[] = [];
    for (let i = 0; i < 20; i++) {
      const page = await replay(cookie, `/asset/${i}`);
      assert.equal(page.status, 200, nginx.errorLog());
      const seen = seenBy(page);
      assert.equal(seen.url, `/asset/${i}`);
      assert.equal(seen.headers['x-forwarded-user'], 'bob');
      assert.equal(seen.headers['x-forwarded-groups'], 'devs');
      assert.ok(seen.headers['gatehouse-jwt-assertion'], 'the assertion comes with a cached answer too');
      statuses.push(seen.headers['x-auth-cache']);
    }
    // Twenty requests in a few milliseconds cross at most one second boundary: at most two misses.
    assert.ok(statuses.filter((x) => x === 'HIT').length >= 18, `cache statuses: ${statuses.join(' ')}`);
    assert.ok(
      statuses.every((x) => x === 'HIT' || x === 'MISS'),
      `cache statuses: ${statuses.join(' ')}`,
    );
  });

  test('requests without a Gatehouse cookie, or with a forged one, are refused and never served from the cache', async (t) => {
    if (skip) return t.skip('nginx missing');
    const before = upstream.seen.length;
    const none = await new Browser({ accept: ACCEPT_HTML }).request(`${app}/page`, { headers: { cookie: 'theme=dark' } });
    assert.equal(none.status, 302);
    assert.match(none.location!, /\/auth\/app\/authorize\?app=docs&state=/);
    const forged = await replay(`gatehouse_app_session=${'A'.repeat(43)}`);
    assert.equal(forged.status, 302);
    const api = await new Browser().request(`${app}/api/x`, { headers: { accept: 'application/json', cookie: `gatehouse_app_session=${'B'.repeat(43)}` } });
    assert.equal(api.status, 401);
    assert.equal(JSON.parse(api.body).error, 'unauthenticated');
    assert.equal(upstream.seen.length, before, 'nothing reached the app');
  });

  test('a sign-out on the app host ends access through the cache within its second', async (t) => {
    if (skip) return t.skip('nginx missing');
    const { browser, cookie } = await signIn();
    await cachedAnswer(cookie);

    const out = await browser.request(`${app}/.gatehouse/logout`);
    assert.equal(out.status, 302);
    assert.equal(out.location, `${s.gw.url}/logout`);
    const signedOutAt = Date.now();

    const late = await refusedWithinBound(signedOutAt, () => replay(cookie), 'the replayed app cookie');
    assert.equal(late.status, 302, `1.1 s after the sign-out the app cookie must be refused:\n${late.body}`);
    assert.match(late.location!, /\/auth\/app\/authorize\?app=docs&state=/);
    const api = await new Browser().request(`${app}/api/x`, { headers: { accept: 'application/json', cookie } });
    assert.equal(api.status, 401);
    assert.equal(JSON.parse(api.body).error, 'unauthenticated');
  });

  test('ending the gateway session (sign-out on the gateway) revokes the app session through the cache within its second', async (t) => {
    if (skip) return t.skip('nginx missing');
    const { browser, cookie } = await signIn();
    await cachedAnswer(cookie);

    const out = await browser.request(`${s.gw.url}/logout`, { method: 'POST', headers: { 'sec-fetch-site': 'same-origin' } });
    assert.equal(out.status, 302);
    const signedOutAt = Date.now();
    const logout = await s.gw.waitForEvent((e) => e.type === 'user.logout' && e.user === 'bob');
    assert.equal(logout.outcome, 'success');

    const late = await refusedWithinBound(signedOutAt, () => replay(cookie), 'the app cookie of the ended session');
    assert.equal(late.status, 302, `1.1 s after the gateway sign-out the app cookie must be refused:\n${late.body}`);
  });
});
