import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { Browser } from '../../helpers/browsers/browser.js';
import { alice, kubePolicy, startSso } from '../../helpers/gateways/sso.js';
import { logIn } from '../../helpers/browsers/sign-in.js';

// Rate limits on the OAuth endpoints (the login limiter's store-backed windows): device
// authorization, user-code entry on /device (RFC 8628 §5.1) and the token endpoint. Each file part
// has its own gateway (and store), so budgets never mix.

const CLIENT = 'gatehouse-cli';
const DEVICE = 'urn:ietf:params:oauth:grant-type:device_code';
const LOGIN_PER_MINUTE = 20; // device authorization and user codes per address: 20; per session: 10; token: 5 × 20

/** Budgets are fixed one-minute windows: start a count well inside one, so it cannot roll over midway. */
const freshWindow = async () => {
  const into = Date.now() % 60_000;
  if (into > 40_000) await new Promise((r) => setTimeout(r, 60_000 - into + 50));
};

const setUp = async () => {
  const s = await startSso({ ...kubePolicy, server: { rate_limit: { login_per_minute: LOGIN_PER_MINUTE } } });
  const browser = new Browser();
  await logIn(browser, s.gw, 'Corp SSO', alice);
  return { s, browser, url: (path: string) => `${s.gw.url}${path}` };
};
const deviceStart = (url: (p: string) => string) =>
  fetch(url('/oauth/device_authorization'), { method: 'POST', body: new URLSearchParams({ client_id: CLIENT }) });

describe('rate limits: /oauth/device_authorization', () => {
  let g: Awaited<ReturnType<typeof setUp>>;
  before(async () => (g = await setUp()));
  after(() => g.s.stop());

  test('past the budget: 429 rate_limited with Retry-After, no device code, audited once per window', { timeout: 120_000 }, async () => {
    await freshWindow();
    for (let i = 0; i < LOGIN_PER_MINUTE; i++) assert.equal((await deviceStart(g.url)).status, 200);
    for (let i = 0; i < 3; i++) {
      const res = await deviceStart(g.url);
      assert.equal(res.status, 429);
      assert.ok(Number(res.headers.get('retry-after')) > 0);
      const body = (await res.json()) as { error: string; device_code?: string; user_code?: string };
      assert.equal(body.error, 'rate_limited');
      assert.equal(body.device_code, undefined, 'nothing issued');
      assert.equal(body.user_code, undefined);
    }
    const events = g.s.gw.auditEvents().filter((e) => e.type === 'device.authorized' && e.reason === 'rate_limited');
    assert.equal(events.length, 1, 'one event per window, not per request');
    assert.equal((events[0]!.details as { endpoint: string }).endpoint, 'device_authorization');
  });
});

describe('rate limits: user-code entry on /device (RFC 8628 §5.1)', () => {
  let g: Awaited<ReturnType<typeof setUp>>;
  before(async () => (g = await setUp()));
  after(() => g.s.stop());

  test('10 guesses per session a minute; then 429 even for the right code, which stays unapproved', { timeout: 120_000 }, async () => {
    await freshWindow();
    const start = (await (await deviceStart(g.url)).json()) as { device_code: string; user_code: string };
    const entry = await g.browser.request(g.url('/device'));
    const csrf = /name="csrf" value="([^"]+)"/.exec(entry.body)![1];
    for (let i = 0; i < 10; i++) {
      const guess = await g.browser.request(g.url('/device'), { form: { user_code: 'BCDF-GHJK', csrf } });
      assert.equal(guess.status, 400, `guess ${i + 1}`);
    }
    const right = await g.browser.request(g.url('/device'), { form: { user_code: start.user_code, csrf } });
    assert.equal(right.status, 429);
    assert.match(right.body, /rate_limited/);
    assert.doesNotMatch(right.body, /Approve this device/);
    const decide = await g.browser.request(g.url('/device/decide'), { form: { user_code: start.user_code, csrf, decision: 'approve' } });
    assert.equal(decide.status, 429, 'the decision form counts too');
    const poll = await fetch(g.url('/oauth/token'), {
      method: 'POST',
      body: new URLSearchParams({ client_id: CLIENT, grant_type: DEVICE, device_code: start.device_code }),
    });
    assert.equal(((await poll.json()) as { error: string }).error, 'authorization_pending', 'not approved, nothing issued');
    const events = g.s.gw.auditEvents().filter((e) => e.type === 'device.authorized' && e.reason === 'rate_limited');
    assert.equal(events.length, 1);
    assert.equal(events[0]!.user, 'alice');
    assert.equal(g.s.gw.auditEvents().filter((e) => e.type === 'device.authorized' && e.outcome === 'success').length, 0);
  });
});

describe('rate limits: /oauth/token', () => {
  let g: Awaited<ReturnType<typeof setUp>>;
  before(async () => (g = await setUp()));
  after(() => g.s.stop());

  test('past the budget: 429 slow_down for device polls, rate_limited for other grants; audited once; nothing issued', { timeout: 120_000 }, async () => {
    await freshWindow();
    const post = (form: Record<string, string>) => fetch(g.url('/oauth/token'), { method: 'POST', body: new URLSearchParams({ client_id: CLIENT, ...form }) });
    const bogus = randomBytes(32).toString('base64url');
    for (let i = 0; i < LOGIN_PER_MINUTE * 5; i++) assert.equal((await post({ grant_type: DEVICE, device_code: bogus })).status, 400);
    const poll = await post({ grant_type: DEVICE, device_code: bogus });
    assert.equal(poll.status, 429);
    assert.ok(Number(poll.headers.get('retry-after')) > 0);
    assert.equal(((await poll.json()) as { error: string }).error, 'slow_down');
    const refresh = await post({ grant_type: 'refresh_token', refresh_token: `gatehouse_rt_${'x'.repeat(8)}` });
    assert.equal(refresh.status, 429);
    const body = (await refresh.json()) as { error: string; access_token?: string };
    assert.equal(body.error, 'rate_limited');
    assert.equal(body.access_token, undefined);
    const limited = g.s.gw.auditEvents().filter((e) => e.reason === 'rate_limited' && (e.type === 'token.issued' || e.type === 'token.refreshed'));
    assert.equal(limited.length, 1, 'audited once per window');
    assert.equal(limited[0]!.type, 'token.issued');
    assert.equal(g.s.gw.auditEvents().filter((e) => (e.type === 'token.issued' || e.type === 'token.refreshed') && e.outcome === 'success').length, 0);
  });
});
