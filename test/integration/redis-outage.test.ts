import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { Browser } from '../helpers/browsers/browser.js';
import { cliTokens, startReplicas, tokenReview } from '../helpers/gateways/replicas.js';
import { eventually } from '../helpers/eventually.js';
import { startRedisServer, stopRedisServer } from '../helpers/peers/redis-server.js';
import { closedPort, requireBinary } from '../helpers/peers/services.js';
import { alice, bob } from '../helpers/gateways/sso.js';
import { logInVia } from '../helpers/browsers/sign-in.js';

const REVIEWER = `reviewer-${randomBytes(12).toString('hex')}`;
const OUTAGE_MS = 10_000;

test('a Redis outage: not ready, logins 503 store_unavailable, TokenReview fails closed, and it recovers by itself', async (t) => {
  const bin = requireBinary(t, 'redis-server');
  if (!bin) return;
  const port = await closedPort();
  let redis = await startRedisServer(bin, port);
  const r = await startReplicas(1, {
    state: { redis_url: `redis://127.0.0.1:${port}` },
    clusters: [{ name: 'prod', audience: 'gatehouse:prod', api_server: 'https://127.0.0.1:6443' }],
    tokenreview: { bearer_token: REVIEWER },
  });
  const gw = r.replicas[0].url;
  try {
    const browser = new Browser();
    assert.equal((await logInVia(browser, gw, r.url, alice)).status, 302);
    const kube = (await cliTokens(browser, gw, 'gatehouse:prod')).access_token;
    assert.equal((await fetch(`${gw}/readyz`)).status, 200);

    await stopRedisServer(redis);
    const stoppedAt = Date.now();
    await eventually(async () => (await fetch(`${gw}/readyz`)).status === 503, {
      timeoutMs: 60_000,
      intervalMs: 100,
      message: 'readyz never reported not ready',
    });
    const ready = (await (await fetch(`${gw}/readyz`)).json()) as { ready: boolean; checks: Record<string, string> };
    assert.equal(ready.ready, false);
    assert.notEqual(ready.checks.store, 'ok');

    // A new login needs the store for its state: a clear 503, as JSON for API callers and a page for people.
    const login = await fetch(`${gw}/login/corp`, { headers: { accept: 'application/json' }, redirect: 'manual' });
    assert.equal(login.status, 503);
    const body = (await login.json()) as { error: string; message: string };
    assert.equal(body.error, 'store_unavailable');
    assert.match(body.message, /unreachable/);
    const page = await fetch(`${gw}/login/corp`, { redirect: 'manual' });
    assert.equal(page.status, 503);
    assert.match(await page.text(), /unreachable/);

    // TokenReview fails closed: whether the token's login was revoked lives in the store. The
    // answer is a clear unauthenticated review, not an error the API server would retry blindly.
    const review = await tokenReview(gw, REVIEWER, kube);
    assert.equal(review.status, 201);
    assert.equal(review.authenticated, false);
    assert.match(review.error ?? '', /unreachable/);

    // Hold the outage for its full length, then bring Redis back on the same port.
    await new Promise((r) => setTimeout(r, Math.max(0, OUTAGE_MS - (Date.now() - stoppedAt))));
    assert.equal((await fetch(`${gw}/healthz`)).status, 200, 'still alive');
    redis = await startRedisServer(bin, port);
    await eventually(async () => (await fetch(`${gw}/readyz`)).status === 200, { timeoutMs: 60_000, intervalMs: 100, message: 'readyz was not ready again' });
    // The old Redis had no persistence: sessions are gone, but a fresh login works without a restart.
    assert.equal((await logInVia(new Browser(), gw, r.url, bob)).status, 302);
    assert.equal((await tokenReview(gw, REVIEWER, kube)).authenticated, true);
  } finally {
    await r.stop();
    await stopRedisServer(redis);
  }
});
