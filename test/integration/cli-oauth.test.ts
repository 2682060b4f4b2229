import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { createRemoteJWKSet, decodeJwt, decodeProtectedHeader, jwtVerify } from 'jose';
import { parseConfig } from '../../src/config/load.js';
import type { Config } from '../../src/config/schema.js';
import { Browser } from '../helpers/browsers/browser.js';
import { alice, bob, kubePolicy, startSso, type SsoSetup } from '../helpers/gateways/sso.js';
import { logIn } from '../helpers/browsers/sign-in.js';

const CLIENT = 'gatehouse-cli';
const REDIRECT = 'http://127.0.0.1:53682/callback';
const REVIEWER = `reviewer-${randomBytes(12).toString('hex')}`;

/** A parsed config back in its input shape (durations in seconds), to parse again with changes. */
const rawConfigOf = (config: Config): Record<string, unknown> =>
  JSON.parse(
    JSON.stringify({
      ...config,
      server: { ...config.server, session: { idle_ttl: config.server.session.idle_ttl / 1000, absolute_ttl: config.server.session.absolute_ttl / 1000 } },
      tokens: { ...config.tokens, ttl: config.tokens.ttl / 1000, rotate_every: config.tokens.rotate_every / 1000 },
      cli: { ...config.cli, refresh_ttl: config.cli.refresh_ttl / 1000 },
      roles: config.roles.map(({ max_session_ttl_ms, ...r }) => ({
        ...r,
        audit: r.audit ?? 'none',
        ...(max_session_ttl_ms ? { max_session_ttl: max_session_ttl_ms / 1000 } : {}),
      })),
    }),
  );

const pkce = () => {
  const verifier = randomBytes(32).toString('base64url');
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
};

interface Tokens {
  access_token: string;
  id_token: string;
  refresh_token: string;
  expires_in: number;
}

describe('the CLI authorization server', () => {
  let s: SsoSetup;
  let browser: Browser;
  const url = (path: string) => `${s.gw.url}${path}`;

  const token = async (form: Record<string, string>) => {
    const res = await fetch(url('/oauth/token'), { method: 'POST', body: new URLSearchParams({ client_id: CLIENT, ...form }) });
    return { status: res.status, body: (await res.json()) as Tokens & { error?: string; error_description?: string } };
  };

  /** The loopback flow as the CLI runs it, with the test playing the browser. */
  const loopbackLogin = async (as = browser, redirect = REDIRECT) => {
    const { verifier, challenge } = pkce();
    const state = randomBytes(8).toString('hex');
    const authorize = `/oauth/authorize?${new URLSearchParams({ client_id: CLIENT, response_type: 'code', redirect_uri: redirect, code_challenge: challenge, code_challenge_method: 'S256', state, scope: 'openid offline_access' })}`;
    const res = await as.request(url(authorize));
    assert.equal(res.status, 302, res.body);
    const back = new URL(res.location!);
    assert.equal(back.origin + back.pathname, redirect);
    assert.equal(back.searchParams.get('state'), state);
    assert.equal(back.searchParams.get('iss'), s.gw.url);
    return { code: back.searchParams.get('code')!, verifier };
  };

  before(async () => {
    s = await startSso({
      ...kubePolicy,
      clusters: [
        { name: 'prod', audience: 'gatehouse:prod', api_server: 'https://127.0.0.1:6443', roles: ['admin'] },
        { name: 'dev', audience: 'gatehouse:dev', api_server: 'https://127.0.0.1:6444' },
      ],
      tokenreview: { bearer_token: REVIEWER },
    });
    browser = new Browser();
    await logIn(browser, s.gw, 'Corp SSO', alice);
  });
  after(() => s.stop());

  test('discovery lists the OAuth endpoints', async () => {
    const d = (await (await fetch(url('/.well-known/openid-configuration'))).json()) as Record<string, unknown>;
    assert.equal(d.token_endpoint, url('/oauth/token'));
    assert.equal(d.device_authorization_endpoint, url('/oauth/device_authorization'));
    assert.deepEqual(d.code_challenge_methods_supported, ['S256']);
  });

  test('not signed in: the authorize request goes through the login page and comes back', async () => {
    const fresh = new Browser();
    const { challenge } = pkce();
    const res = await fresh.request(
      url(
        `/oauth/authorize?client_id=${CLIENT}&response_type=code&redirect_uri=${encodeURIComponent(REDIRECT)}&code_challenge=${challenge}&code_challenge_method=S256&connector=corp`,
      ),
    );
    assert.equal(res.status, 302);
    const login = new URL(res.location!);
    assert.equal(login.pathname, '/login');
    assert.equal(login.searchParams.get('connector'), 'corp');
    assert.match(login.searchParams.get('return_to')!, /^\/oauth\/authorize\?/);
  });

  test('loopback code + PKCE → tokens; the access token works on the API; the ID token is for the CLI', async () => {
    const { code, verifier } = await loopbackLogin();
    const { status, body } = await token({ grant_type: 'authorization_code', code, code_verifier: verifier, redirect_uri: REDIRECT });
    assert.equal(status, 200, JSON.stringify(body));
    assert.match(body.refresh_token, /^gatehouse_rt_/);
    assert.equal(decodeProtectedHeader(body.access_token).typ, 'at+jwt', 'access tokens are at+jwt (RFC 9068)');
    assert.equal(decodeProtectedHeader(body.id_token).typ, 'JWT');
    const jwks = createRemoteJWKSet(new URL(url('/.well-known/jwks.json')));
    const { payload: id } = await jwtVerify(body.id_token, jwks, { issuer: s.gw.url, audience: CLIENT });
    assert.equal(id.preferred_username, 'alice');
    assert.ok(decodeJwt(body.id_token).exp! - decodeJwt(body.id_token).iat! <= 600, 'ID tokens live 10 minutes');
    const me = await fetch(url('/api/v1/whoami'), { headers: { authorization: `Bearer ${body.access_token}` } });
    assert.equal(me.status, 200);
    assert.deepEqual(((await me.json()) as { roles: string[] }).roles, ['admin', 'developer']);
    assert.ok(s.gw.auditEvents().some((e) => e.type === 'token.issued' && e.user === 'alice' && e.outcome === 'success'));

    const again = await token({ grant_type: 'authorization_code', code, code_verifier: verifier, redirect_uri: REDIRECT });
    assert.equal(again.status, 400);
    assert.equal(again.body.error, 'invalid_grant', 'a code works once');
  });

  test('a refresh with resource = a cluster audience carries that audience and the mapped Kubernetes groups', async () => {
    const { code, verifier } = await loopbackLogin();
    const first = await token({ grant_type: 'authorization_code', code, code_verifier: verifier, redirect_uri: REDIRECT });
    const prod = await token({ grant_type: 'refresh_token', refresh_token: first.body.refresh_token, resource: 'gatehouse:prod' });
    assert.equal(prod.status, 200, JSON.stringify(prod.body));
    const claims = decodeJwt(prod.body.access_token);
    assert.equal(claims.aud, 'gatehouse:prod');
    assert.deepEqual(decodeJwt(prod.body.id_token).aud, [CLIENT], 'the ID token is for the CLI, never for a cluster');
    assert.deepEqual(claims.groups, ['developers', 'platform-admins']);
    assert.equal(claims.email, 'alice@example.com');
    assert.ok(claims.jti);
    assert.notEqual(prod.body.refresh_token, first.body.refresh_token, 'refresh tokens rotate');
    const unknown = await token({ grant_type: 'refresh_token', refresh_token: prod.body.refresh_token, resource: 'gatehouse:nope' });
    assert.equal(unknown.body.error, 'invalid_target');
  });

  test('bad PKCE and bad redirect URIs are refused', async () => {
    const missing = await browser.request(url(`/oauth/authorize?client_id=${CLIENT}&response_type=code&redirect_uri=${encodeURIComponent(REDIRECT)}`));
    assert.equal(missing.status, 400);
    assert.equal(missing.location, undefined, 'no redirect with an error before the request is trusted');
    assert.equal(JSON.parse(missing.body).error, 'invalid_request');

    for (const redirect of ['https://evil.example/cb', 'http://localhost:8000/cb', 'http://127.0.0.1/cb', 'http://10.0.0.1:8000/cb']) {
      const { challenge } = pkce();
      const res = await browser.request(
        url(
          `/oauth/authorize?client_id=${CLIENT}&response_type=code&redirect_uri=${encodeURIComponent(redirect)}&code_challenge=${challenge}&code_challenge_method=S256`,
        ),
      );
      assert.equal(res.status, 400, redirect);
      assert.equal(res.location, undefined);
    }
    const plain = await browser.request(
      url(
        `/oauth/authorize?client_id=${CLIENT}&response_type=code&redirect_uri=${encodeURIComponent(REDIRECT)}&code_challenge=${'a'.repeat(43)}&code_challenge_method=plain`,
      ),
    );
    assert.equal(plain.status, 400);

    const { code } = await loopbackLogin();
    const wrong = await token({ grant_type: 'authorization_code', code, code_verifier: pkce().verifier, redirect_uri: REDIRECT });
    assert.equal(wrong.status, 400);
    assert.equal(wrong.body.error, 'invalid_grant');
    assert.match(wrong.body.error_description!, /code_verifier/);
    assert.ok(s.gw.auditEvents().some((e) => e.type === 'token.issued' && e.outcome === 'failure' && e.reason === 'pkce_mismatch'));
    const { code: code2, verifier } = await loopbackLogin(browser, 'http://[::1]:40000/cb');
    const otherRedirect = await token({ grant_type: 'authorization_code', code: code2, code_verifier: verifier, redirect_uri: 'http://[::1]:40001/cb' });
    assert.equal(otherRedirect.body.error, 'invalid_grant');
  });

  test('a reused refresh token revokes the whole family and is audited', async () => {
    const { code, verifier } = await loopbackLogin();
    const first = await token({ grant_type: 'authorization_code', code, code_verifier: verifier, redirect_uri: REDIRECT });
    const second = await token({ grant_type: 'refresh_token', refresh_token: first.body.refresh_token });
    assert.equal(second.status, 200);
    const replay = await token({ grant_type: 'refresh_token', refresh_token: first.body.refresh_token });
    assert.equal(replay.status, 400);
    assert.equal(replay.body.error, 'invalid_grant');
    const legit = await token({ grant_type: 'refresh_token', refresh_token: second.body.refresh_token });
    assert.equal(legit.body.error, 'invalid_grant', 'the newest token of the family is dead too');
    const event = s.gw.auditEvents().find((e) => e.type === 'token.reuse_detected');
    assert.ok(event);
    assert.equal(event.user, 'alice');
    assert.equal(event.outcome, 'failure');
  });

  test('revocation ends the family', async () => {
    const { code, verifier } = await loopbackLogin();
    const first = await token({ grant_type: 'authorization_code', code, code_verifier: verifier, redirect_uri: REDIRECT });
    const res = await fetch(url('/oauth/revoke'), { method: 'POST', body: new URLSearchParams({ client_id: CLIENT, token: first.body.refresh_token }) });
    assert.equal(res.status, 200);
    assert.equal((await token({ grant_type: 'refresh_token', refresh_token: first.body.refresh_token })).body.error, 'invalid_grant');
    assert.ok(s.gw.auditEvents().some((e) => e.type === 'token.revoked' && e.user === 'alice'));
  });

  test('a person whose mapping no longer grants the cluster cannot refresh into it', async () => {
    const bobBrowser = new Browser();
    await logIn(bobBrowser, s.gw, 'Corp SSO', bob);
    const { code, verifier } = await loopbackLogin(bobBrowser);
    const first = await token({ grant_type: 'authorization_code', code, code_verifier: verifier, redirect_uri: REDIRECT });
    const dev = await token({ grant_type: 'refresh_token', refresh_token: first.body.refresh_token, resource: 'gatehouse:dev' });
    assert.equal(dev.status, 200);
    assert.deepEqual(decodeJwt(dev.body.access_token).groups, ['developers']);
    const prod = await token({ grant_type: 'refresh_token', refresh_token: dev.body.refresh_token, resource: 'gatehouse:prod' });
    assert.equal(prod.status, 400, 'prod is for the admin role only');
    assert.equal(prod.body.error, 'invalid_grant');
    assert.ok(
      s.gw.auditEvents().some((e) => e.type === 'token.refreshed' && e.outcome === 'failure' && e.user === 'bob' && e.reason === 'cluster_not_granted'),
    );
  });

  test('after a policy reload drops the mapping, the next refresh is refused', async () => {
    const { code, verifier } = await loopbackLogin();
    const first = await token({ grant_type: 'authorization_code', code, code_verifier: verifier, redirect_uri: REDIRECT });
    assert.equal(first.status, 200);
    const original = rawConfigOf(s.gw.gateway.config);
    s.gw.gateway.reloadPolicy(parseConfig({ ...original, mappings: [] }));
    try {
      const refused = await token({ grant_type: 'refresh_token', refresh_token: first.body.refresh_token, resource: 'gatehouse:dev' });
      assert.equal(refused.status, 400);
      assert.equal(refused.body.error, 'invalid_grant');
      assert.ok(s.gw.auditEvents().some((e) => e.type === 'token.refreshed' && e.outcome === 'failure' && e.user === 'alice' && e.reason === 'no_roles'));
    } finally {
      s.gw.gateway.reloadPolicy(parseConfig(original));
    }
  });

  test('device flow: pending → approved on the /device page → tokens; denial and bad codes', async () => {
    const start = await fetch(url('/oauth/device_authorization'), { method: 'POST', body: new URLSearchParams({ client_id: CLIENT, scope: 'openid' }) });
    const device = (await start.json()) as { device_code: string; user_code: string; verification_uri: string; interval: number };
    assert.equal(device.verification_uri, url('/device'));
    assert.match(device.user_code, /^[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}$/);
    const poll = () => token({ grant_type: 'urn:ietf:params:oauth:grant-type:device_code', device_code: device.device_code });
    assert.equal((await poll()).body.error, 'authorization_pending');
    assert.equal((await poll()).body.error, 'slow_down', 'polling faster than the interval');

    const entry = await browser.request(url(`/device?user_code=${device.user_code}`));
    assert.equal(entry.status, 200);
    const csrf = /name="csrf" value="([^"]+)"/.exec(entry.body)![1];
    const forged = await browser.request(url('/device'), { form: { user_code: device.user_code, csrf: 'x'.repeat(43) } });
    assert.equal(forged.status, 403, 'a form without our CSRF token is refused');
    const bad = await browser.request(url('/device'), { form: { user_code: 'BCDF-GHJK', csrf } });
    assert.equal(bad.status, 400);
    const confirm = await browser.request(url('/device'), { form: { user_code: device.user_code.toLowerCase(), csrf } });
    assert.equal(confirm.status, 200);
    assert.match(confirm.body, /Approve this device/);
    const done = await browser.request(url('/device/decide'), { form: { user_code: device.user_code, csrf, decision: 'approve' } });
    assert.match(done.body, /Device approved/);

    await new Promise((r) => setTimeout(r, device.interval * 1000));
    const tokens = await poll();
    assert.equal(tokens.status, 200, JSON.stringify(tokens.body));
    assert.equal(decodeJwt(tokens.body.access_token).preferred_username, 'alice');
    assert.equal((await poll()).body.error, 'expired_token', 'a device code is redeemed once');
    assert.ok(s.gw.auditEvents().some((e) => e.type === 'device.authorized' && e.outcome === 'success' && e.user === 'alice'));

    const other = (await (
      await fetch(url('/oauth/device_authorization'), { method: 'POST', body: new URLSearchParams({ client_id: CLIENT }) })
    ).json()) as typeof device;
    await browser.request(url('/device/decide'), { form: { user_code: other.user_code, csrf, decision: 'deny' } });
    assert.equal((await token({ grant_type: 'urn:ietf:params:oauth:grant-type:device_code', device_code: other.device_code })).body.error, 'access_denied');
  });

  test('unknown grant types and clients', async () => {
    assert.equal((await token({ grant_type: 'password', username: 'a', password: 'b' })).body.error, 'unsupported_grant_type');
    const res = await fetch(url('/oauth/token'), {
      method: 'POST',
      body: new URLSearchParams({ client_id: 'other', grant_type: 'refresh_token', refresh_token: 'gatehouse_rt_x' }),
    });
    assert.equal(res.status, 401);
    assert.equal(((await res.json()) as { error: string }).error, 'invalid_client');
  });

  describe('TokenReview webhook', () => {
    const review = async (body: unknown, options: { apiVersion?: string; auth?: string | null } = {}) => {
      const apiVersion = options.apiVersion ?? 'v1';
      const res = await fetch(url(`/apis/authentication.k8s.io/${apiVersion}/tokenreviews`), {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(options.auth === null ? {} : { authorization: `Bearer ${options.auth ?? REVIEWER}` }) },
        body: typeof body === 'string' ? body : JSON.stringify(body),
      });
      return {
        status: res.status,
        body: (await res.json()) as {
          apiVersion?: string;
          status?: { authenticated?: boolean; user?: { username: string; groups: string[]; uid: string; extra: Record<string, string[]> }; error?: string };
          reason?: string;
        },
      };
    };
    const clusterToken = async (resource: string) => {
      const { code, verifier } = await loopbackLogin();
      const first = await token({ grant_type: 'authorization_code', code, code_verifier: verifier, redirect_uri: REDIRECT });
      return (await token({ grant_type: 'refresh_token', refresh_token: first.body.refresh_token, resource })).body.access_token;
    };

    test('answers v1 and v1beta1 with the user, groups and extra', async () => {
      const idToken = await clusterToken('gatehouse:prod');
      for (const apiVersion of ['v1', 'v1beta1']) {
        const res = await review(
          { apiVersion: `authentication.k8s.io/${apiVersion}`, kind: 'TokenReview', spec: { token: idToken, audiences: ['gatehouse:prod'] } },
          { apiVersion },
        );
        assert.equal(res.status, 201);
        assert.equal(res.body.apiVersion, `authentication.k8s.io/${apiVersion}`);
        assert.equal(res.body.status?.authenticated, true);
        assert.equal(res.body.status?.user?.username, 'gatehouse:alice');
        assert.deepEqual(res.body.status?.user?.groups, ['developers', 'platform-admins']);
        assert.deepEqual(res.body.status?.user?.extra['gatehouse.dev/connector'], ['corp']);
      }
      assert.ok(s.gw.auditEvents().some((e) => e.type === 'kube.tokenreview' && e.outcome === 'success' && e.user === 'alice'));
    });

    test("answers in the review body's apiVersion on either path; a body without one gets the path's, an unknown one 400", async () => {
      const prodToken = await clusterToken('gatehouse:prod');
      const spec = { token: prodToken, audiences: ['gatehouse:prod'] };
      for (const [path, body] of [
        ['v1', 'v1beta1'],
        ['v1beta1', 'v1'],
      ]) {
        const res = await review({ apiVersion: `authentication.k8s.io/${body}`, kind: 'TokenReview', spec }, { apiVersion: path });
        assert.equal(res.status, 201);
        assert.equal(res.body.apiVersion, `authentication.k8s.io/${body}`, `a ${body} review posted to the ${path} path`);
        assert.equal(res.body.status?.authenticated, true);
      }
      assert.equal((await review({ kind: 'TokenReview', spec }, { apiVersion: 'v1beta1' })).body.apiVersion, 'authentication.k8s.io/v1beta1');
      for (const apiVersion of ['authentication.k8s.io/v2', 'v1', null]) {
        const refused = await review({ apiVersion, kind: 'TokenReview', spec });
        assert.equal(refused.status, 400, String(apiVersion));
        assert.equal(refused.body.reason, 'BadRequest');
      }
      assert.ok(
        s.gw
          .auditEvents()
          .some((e) => e.type === 'kube.tokenreview' && e.reason === 'malformed_review' && /unsupported apiVersion/.test(String(e.details?.error))),
      );
    });

    test('another audience, a gateway API token and garbage are not authenticated', async () => {
      const prodToken = await clusterToken('gatehouse:prod');
      const other = await review({ apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token: prodToken, audiences: ['gatehouse:dev'] } });
      assert.equal(other.status, 201);
      assert.equal(other.body.status?.authenticated, false);
      assert.match(other.body.status?.error ?? '', /aud/);
      const { code, verifier } = await loopbackLogin();
      const api = (await token({ grant_type: 'authorization_code', code, code_verifier: verifier, redirect_uri: REDIRECT })).body.access_token;
      assert.equal((await review({ kind: 'TokenReview', spec: { token: api } })).body.status?.authenticated, false, 'gateway tokens are not cluster tokens');
      assert.equal((await review({ kind: 'TokenReview', spec: { token: 'eyJhbGciOiJub25lIn0.e30.' } })).body.status?.authenticated, false);
      assert.ok(s.gw.auditEvents().some((e) => e.type === 'kube.tokenreview' && e.outcome === 'failure' && e.reason === 'invalid_token'));
    });

    test('callers must authenticate; malformed reviews get 400', async () => {
      assert.equal((await review({ kind: 'TokenReview', spec: { token: 'x' } }, { auth: null })).status, 401);
      assert.equal((await review({ kind: 'TokenReview', spec: { token: 'x' } }, { auth: 'wrong-token-of-some-length' })).status, 401);
      const malformed = await review('{"kind": "TokenReview", ');
      assert.equal(malformed.status, 400);
      assert.equal(malformed.body.reason, 'BadRequest');
      assert.equal((await review({ kind: 'Pod' })).status, 400);
      assert.ok(s.gw.auditEvents().some((e) => e.type === 'kube.tokenreview' && e.reason === 'caller_unauthenticated'));
      assert.ok(s.gw.auditEvents().some((e) => e.type === 'kube.tokenreview' && e.reason === 'malformed_review'));
    });
  });
});
