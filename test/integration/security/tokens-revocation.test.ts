import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { Browser } from '../../helpers/browsers/browser.js';
import { alice, kubePolicy, startSso, type SsoSetup } from '../../helpers/gateways/sso.js';
import { CLI_CLIENT, cliLogin, oauthToken } from '../../helpers/gateways/cli-oauth.js';
import { logIn } from '../../helpers/browsers/sign-in.js';

// A revoked CLI login's access tokens stop working everywhere (API bearer, app proxy / forward-auth,
// TokenReview), and an approved device code is redeemed exactly once, however many polls race.

const REVIEWER = `reviewer-${randomBytes(12).toString('hex')}`;
const DEVICE = 'urn:ietf:params:oauth:grant-type:device_code';

describe('token revocation and device redemption (security)', () => {
  let s: SsoSetup;
  let browser: Browser;
  const url = (path: string) => `${s.gw.url}${path}`;
  const token = (form: Record<string, string>) => oauthToken(s.gw.url, form);
  const login = () => cliLogin(browser, s.gw.url);
  const whoami = async (bearer: string) => {
    const res = await fetch(url('/api/v1/whoami'), { headers: { authorization: `Bearer ${bearer}` } });
    return { status: res.status, body: (await res.json()) as { error?: string; username?: string } };
  };
  const review = async (tokenValue: string, apiVersion = 'v1') => {
    const res = await fetch(url(`/apis/authentication.k8s.io/${apiVersion}/tokenreviews`), {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${REVIEWER}` },
      body: JSON.stringify({ kind: 'TokenReview', spec: { token: tokenValue } }),
    });
    return ((await res.json()) as { status: { authenticated: boolean; error?: string } }).status;
  };
  const revokedUses = () => s.gw.auditEvents().filter((e) => e.type === 'token.revoked' && e.outcome === 'failure' && e.reason === 'token_revoked');

  before(async () => {
    s = await startSso({
      ...kubePolicy,
      clusters: [{ name: 'prod', audience: 'gatehouse:prod', api_server: 'https://127.0.0.1:6443' }],
      apps: [{ name: 'wiki', public_host: 'wiki.localhost', roles: ['developer'] }],
      tokenreview: { bearer_token: REVIEWER },
    });
    browser = new Browser();
    await logIn(browser, s.gw, 'Corp SSO', alice);
  });
  after(() => s.stop());

  test('after /oauth/revoke, the access tokens of that login get 401 token_revoked (API, forward-auth, TokenReview v1/v1beta1), audited', async () => {
    const tokens = await login();
    const prod = await token({ grant_type: 'refresh_token', refresh_token: tokens.refresh_token, resource: 'gatehouse:prod' });
    assert.equal((await whoami(tokens.access_token)).status, 200);
    assert.equal((await review(prod.body.access_token)).authenticated, true);

    const revoke = await fetch(url('/oauth/revoke'), { method: 'POST', body: new URLSearchParams({ client_id: CLI_CLIENT, token: prod.body.refresh_token }) });
    assert.equal(revoke.status, 200);
    const usesBefore = revokedUses().length;

    const me = await whoami(tokens.access_token);
    assert.equal(me.status, 401);
    assert.equal(me.body.error, 'token_revoked');
    const verify = await fetch(url('/auth/verify?app=wiki'), { headers: { authorization: `Bearer ${tokens.access_token}` } });
    assert.equal(verify.status, 401, 'forward-auth refuses the revoked bearer');
    for (const apiVersion of ['v1', 'v1beta1']) {
      const answer = await review(prod.body.access_token, apiVersion);
      assert.equal(answer.authenticated, false);
      assert.match(answer.error ?? '', /revoked/);
    }
    assert.ok(s.gw.auditEvents().some((e) => e.type === 'kube.tokenreview' && e.outcome === 'failure' && e.reason === 'token_revoked'));
    assert.ok(revokedUses().length > usesBefore, 'token.revoked failure (token_revoked) audited');
    assert.equal(revokedUses().at(-1)!.user, 'alice');

    const refreshed = await token({ grant_type: 'refresh_token', refresh_token: tokens.refresh_token });
    assert.equal(refreshed.body.error, 'invalid_grant', 'no new tokens for the revoked login');
    assert.equal(refreshed.body.access_token, undefined);
  });

  test('refresh-token reuse revokes the live access tokens too', async () => {
    const tokens = await login();
    const next = await token({ grant_type: 'refresh_token', refresh_token: tokens.refresh_token });
    assert.equal(next.status, 200);
    assert.equal((await whoami(next.body.access_token)).status, 200);
    const replay = await token({ grant_type: 'refresh_token', refresh_token: tokens.refresh_token });
    assert.equal(replay.body.error, 'invalid_grant');
    assert.ok(s.gw.auditEvents().some((e) => e.type === 'token.reuse_detected'));
    for (const access of [tokens.access_token, next.body.access_token]) {
      const me = await whoami(access);
      assert.equal(me.status, 401);
      assert.equal(me.body.error, 'token_revoked');
    }
    const fresh = await login();
    assert.equal((await whoami(fresh.access_token)).status, 200, 'another login of the same person still works');
  });

  test('20 concurrent polls of an approved device code: exactly one token response, one login', async () => {
    const start = (await (
      await fetch(url('/oauth/device_authorization'), { method: 'POST', body: new URLSearchParams({ client_id: CLI_CLIENT }) })
    ).json()) as { device_code: string; user_code: string };
    const entry = await browser.request(url(`/device?user_code=${start.user_code}`));
    const csrf = /name="csrf" value="([^"]+)"/.exec(entry.body)![1];
    const done = await browser.request(url('/device/decide'), { form: { user_code: start.user_code, csrf, decision: 'approve' } });
    assert.match(done.body, /Device approved/);
    const eventsBefore = s.gw.auditEvents().length;

    const polls = await Promise.all(Array.from({ length: 20 }, () => token({ grant_type: DEVICE, device_code: start.device_code })));
    const ok = polls.filter((p) => p.status === 200);
    assert.equal(ok.length, 1, `one token response: ${JSON.stringify(polls.map((p) => p.body.error ?? p.status))}`);
    for (const p of polls.filter((x) => x.status !== 200)) {
      assert.equal(p.status, 400);
      // Polls that find the grant taken get invalid_grant; later ones find no grant at all (expired_token).
      assert.ok(['invalid_grant', 'expired_token'].includes(p.body.error!), p.body.error);
      assert.equal(p.body.access_token, undefined);
    }
    const events = s.gw
      .auditEvents()
      .slice(eventsBefore)
      .filter((e) => e.type === 'token.issued');
    assert.equal(events.filter((e) => e.outcome === 'success').length, 1, 'one token family started');
    const refused = events.filter((e) => e.outcome === 'failure' && (e.reason === 'device_code_used' || e.reason === 'expired_token'));
    assert.equal(refused.length, 19, 'the losing polls are audited');
  });
});
