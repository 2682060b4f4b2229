import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { after, before, describe, test, type TestContext } from 'node:test';
import { decodeJwt } from 'jose';
import { Browser, hiddenInputs } from '../helpers/browsers/browser.js';
import { dropSchema, freshSchema, PG_URL, requirePostgres } from '../helpers/peers/postgres.js';
import { startReplicas, type Replicas } from '../helpers/gateways/replicas.js';
import { REDIS_URL, requireRedis, tcpReachable } from '../helpers/peers/services.js';
import { alice } from '../helpers/gateways/sso.js';
import { SESSION_COOKIE } from '../../src/web/deps.js';
import { logInVia } from '../helpers/browsers/sign-in.js';

const CLIENT = 'gatehouse-cli';
const REDIRECT = 'http://127.0.0.1:53682/callback';
const REVIEWER = `reviewer-${randomBytes(12).toString('hex')}`;

interface Tokens {
  access_token: string;
  id_token: string;
  refresh_token: string;
  error?: string;
}

/**
 * Two replicas, one Redis (own prefix), one PostgreSQL audit schema, behind a round-robin
 * balancer that is their shared public URL. Every step names the replica it talks to.
 */
describe('two replicas share one state', () => {
  let r: Replicas | undefined;
  let A: string;
  let B: string;
  const schema = freshSchema('replicas');
  const browser = new Browser();

  /** Skips (fails on CI) naming the missing service. */
  const skipMissing = async (t: TestContext) => {
    if (await requireRedis(t)) await requirePostgres(t);
  };

  before(async () => {
    const redis = new URL(REDIS_URL);
    const pg = new URL(PG_URL);
    if (!(await tcpReachable(redis.hostname, Number(redis.port || 6379))) || !(await tcpReachable(pg.hostname, Number(pg.port || 5432)))) return;
    r = await startReplicas(2, {
      state: { redis_url: REDIS_URL, redis_prefix: `gh-replicas-${randomBytes(6).toString('hex')}:` },
      audit: { backend: 'postgres', postgres_url: PG_URL, postgres_schema: schema },
      clusters: [{ name: 'prod', audience: 'gatehouse:prod', api_server: 'https://127.0.0.1:6443' }],
      tokenreview: { bearer_token: REVIEWER },
    });
    [A, B] = r.replicas.map((g) => g.url);
  });
  after(async () => {
    await r?.stop();
    if (r) await dropSchema(schema);
  });

  const whoami = (base: string, as = browser) => as.request(`${base}/api/v1/whoami`);
  const token = async (base: string, form: Record<string, string>) => {
    const res = await fetch(`${base}/oauth/token`, { method: 'POST', body: new URLSearchParams({ client_id: CLIENT, ...form }) });
    return { status: res.status, body: (await res.json()) as Tokens };
  };

  test('a login through A is a session on B; a CLI token from A refreshes on B and verifies at B', async (t) => {
    if (!r) return skipMissing(t);
    const done = await logInVia(browser, A, r.url, alice);
    assert.equal(done.status, 302, done.body);
    assert.equal(JSON.parse((await whoami(A)).body).username, 'alice');
    const onB = await whoami(B);
    assert.equal(onB.status, 200, onB.body);
    assert.equal(JSON.parse(onB.body).username, 'alice');

    // Authorization code + PKCE through A ...
    const verifier = randomBytes(32).toString('base64url');
    const challenge = createHash('sha256').update(verifier).digest('base64url');
    const authorize = await browser.request(
      `${A}/oauth/authorize?${new URLSearchParams({ client_id: CLIENT, response_type: 'code', redirect_uri: REDIRECT, code_challenge: challenge, code_challenge_method: 'S256', state: 's', scope: 'openid offline_access' })}`,
    );
    assert.equal(authorize.status, 302, authorize.body);
    const code = new URL(authorize.location!).searchParams.get('code')!;
    const first = await token(A, { grant_type: 'authorization_code', code, code_verifier: verifier, redirect_uri: REDIRECT });
    assert.equal(first.status, 200, JSON.stringify(first.body));
    // ... refreshed through B, into a cluster token that A's TokenReview accepts and B's API too.
    const refreshed = await token(B, { grant_type: 'refresh_token', refresh_token: first.body.refresh_token, resource: 'gatehouse:prod' });
    assert.equal(refreshed.status, 200, JSON.stringify(refreshed.body));
    assert.equal(decodeJwt(refreshed.body.access_token).aud, 'gatehouse:prod');
    const review = await fetch(`${A}/apis/authentication.k8s.io/v1/tokenreviews`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${REVIEWER}` },
      body: JSON.stringify({ apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token: refreshed.body.access_token } }),
    });
    const reviewed = (await review.json()) as { status: { authenticated?: boolean; user?: { groups: string[] } } };
    assert.equal(reviewed.status.authenticated, true, JSON.stringify(reviewed));
    assert.ok(reviewed.status.user?.groups.includes('platform-admins'));
    const bearerOnA = await fetch(`${A}/api/v1/whoami`, { headers: { authorization: `Bearer ${first.body.access_token}` } });
    assert.equal(bearerOnA.status, 200);
    // The old refresh token was rotated on B: reusing it on A is detected.
    assert.equal((await token(A, { grant_type: 'refresh_token', refresh_token: first.body.refresh_token })).body.error, 'invalid_grant');
  });

  test('a logout on A is refused on B within a second', async (t) => {
    if (!r) return skipMissing(t);
    const other = new Browser();
    assert.equal((await logInVia(other, B, r.url, alice)).status, 302);
    assert.equal((await whoami(B, other)).status, 200);
    const stolen = other.cookie(SESSION_COOKIE);
    assert.ok(stolen, 'session cookie');
    const withStolenCookie = () => fetch(`${B}/api/v1/whoami`, { headers: { cookie: `${SESSION_COOKIE}=${stolen}` } });
    assert.equal((await withStolenCookie()).status, 200);
    const out = await other.request(`${A}/logout`, { form: hiddenInputs((await other.request(`${A}/logout`)).body) });
    assert.equal(out.status, 302);
    // Replay the old cookie against B, as a copied cookie would be, until B refuses it.
    const loggedOutAt = Date.now();
    let status = 0;
    while (Date.now() - loggedOutAt < 1000) {
      status = (await withStolenCookie()).status;
      if (status === 401) break;
    }
    assert.equal(status, 401, 'B refuses the session within 1 s of the logout on A');
  });

  test('the audit chain written by both replicas verifies from either', async (t) => {
    if (!r) return skipMissing(t);
    for (const base of [A, B]) {
      const res = await browser.request(`${base}/api/v1/audit/verify`);
      assert.equal(res.status, 200, res.body);
      const body = JSON.parse(res.body) as { ok: boolean; backend: string };
      assert.equal(body.backend, 'postgres');
      assert.equal(body.ok, true, res.body);
    }
  });
});
