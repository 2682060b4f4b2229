/**
 * Every way a browser login through an OIDC connector can fail, against real peers on 127.0.0.1:
 * the embedded oidc-provider IdP (real login and consent forms) and a rogue IdP that breaks one
 * ID token check at a time (test/helpers/peers/rogue-idp.ts).
 *
 * Each case checks the same four things:
 *   - the HTTP status,
 *   - the stable error code in `{ error, message }` (docs/errors.md),
 *   - that no gateway session was created,
 *   - that a `user.login` failure event with that code as `reason`, and the connector, was audited.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { connect } from 'node:net';
import { after, before, describe, test } from 'node:test';

import type { AuditEvent } from '../../src/audit/sink.js';
import { startEmbeddedIdp, type EmbeddedIdp } from '../../src/demo-idp/server.js';
import { Browser, redirectedTo, type Page } from '../helpers/browsers/browser.js';
import { startGateway, type TestGateway } from '../helpers/gateways/gateway.js';
import { startRogueIdp, type RogueIdp, type RogueMode } from '../helpers/peers/rogue-idp.js';
import { closedPort } from '../helpers/peers/services.js';

const SESSION_COOKIE = 'gatehouse_session';
const ROGUE_CLIENT = { id: 'gatehouse-rogue', secret: randomBytes(16).toString('base64url') };
const IDP_CLIENT = { id: 'gatehouse', secret: randomBytes(16).toString('base64url') };
const users = [
  { username: 'alice', password: 'alice-pw', email: 'alice@example.com', groups: ['admins'] },
  { username: 'bob', password: 'bob-pw', email: 'bob@example.com', groups: ['devs'] },
];

const rogueConnector = (id: string, issuer: string, extra: Record<string, unknown> = {}) => ({
  id,
  type: 'oidc',
  issuer,
  client_id: ROGUE_CLIENT.id,
  client_secret: ROGUE_CLIENT.secret,
  scopes: ['openid', 'email', 'profile', 'groups'],
  ...extra,
});

// ---------------------------------------------------------------------------------------------
// helpers
// ---------------------------------------------------------------------------------------------

interface ErrorBody {
  error: string;
  message: string;
  request_id: string;
}

/** One request without a browser, as an API client would send it. */
async function fetchJson(url: string, accept = 'application/json') {
  const res = await fetch(url, { headers: { accept }, redirect: 'manual' });
  const body = await res.text();
  return { status: res.status, headers: res.headers, body, setCookies: res.headers.getSetCookie() };
}

const parseError = (page: { status: number; body: string }): ErrorBody => {
  try {
    return JSON.parse(page.body) as ErrorBody;
  } catch {
    return assert.fail(`expected a JSON error, got ${page.status}:\n${page.body.slice(0, 500)}`);
  }
};

/** The audit event written for the request that got `requestId`. */
const auditedFor = (gw: TestGateway, requestId: string) => gw.waitForEvent((e) => e.type === 'user.login' && e.request_id === requestId);

function assertLoginFailureEvent(event: AuditEvent, code: string, connector: string | undefined): void {
  assert.equal(event.type, 'user.login');
  assert.equal(event.outcome, 'failure');
  assert.equal(event.code, 'GH1001W');
  assert.equal(event.reason, code);
  assert.equal(event.connector, connector);
  assert.equal(event.user, undefined);
  assert.equal(event.session_id, undefined);
}

/**
 * The response is `status` + `{ error: code }` with a real message, the browser holds no session
 * (when a browser made the request), and the failure was audited for `connector`.
 */
async function expectLoginFailure(
  gw: TestGateway,
  page: { status: number; body: string },
  expected: { status: number; code: string; connector: string | undefined },
  browser?: Browser,
): Promise<ErrorBody> {
  const body = parseError(page);
  assert.equal(page.status, expected.status, page.body);
  assert.equal(body.error, expected.code, page.body);
  assert.ok(body.message && !/internal server error/i.test(body.message), `a clear message, got "${body.message}"`);
  assertLoginFailureEvent(await auditedFor(gw, body.request_id), expected.code, expected.connector);
  if (browser) await expectNoSession(gw, browser);
  return body;
}

async function expectNoSession(gw: TestGateway, browser: Browser): Promise<void> {
  assert.equal(browser.cookie(SESSION_COOKIE), undefined, 'no session cookie was set');
  const whoami = await browser.request(`${gatewayUrl(gw)}/api/v1/whoami`);
  assert.equal(whoami.status, 401, whoami.body);
}

/** startGateway reports the URL it picked; when the test picks `server.listen` itself, ask the server. */
const gatewayUrl = (gw: TestGateway) => gw.gateway.url();

/**
 * Raw HTTP/1.1 over a socket, for requests fetch refuses to send (a 100 KB URL, a 1 MB header).
 * Resolves when the server closes the connection, with whatever it answered.
 */
function rawRequest(url: string, head: string): Promise<{ status: number; body: string }> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname);
    const chunks: Buffer[] = [];
    socket.on('data', (chunk) => chunks.push(chunk));
    // The server may close while we are still writing a huge header: keep what it answered.
    socket.on('error', () => {});
    socket.on('close', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      const status = /^HTTP\/1\.1 (\d{3}) /.exec(text)?.[1];
      if (!status) return reject(new Error(`no HTTP answer:\n${text.slice(0, 300)}`));
      resolve({ status: Number(status), body: text.slice(text.indexOf('\r\n\r\n') + 4) });
    });
    socket.write(head);
  });
}

/** Gateway /login/<connector> → IdP login form → submit credentials → consent form. */
async function toConsent(browser: Browser, base: string, user: { username: string; password: string }): Promise<Page> {
  const login = await browser.go(`${base}/login/idp`);
  assert.equal(login.status, 200, login.body);
  assert.match(login.body, /name="password"/);
  const consent = await browser.submit(login, 'login', { username: user.username, password: user.password });
  assert.equal(consent.status, 200, consent.body);
  assert.match(consent.body, />\s*Allow\s*</);
  return consent;
}

// ---------------------------------------------------------------------------------------------
// One gateway with four connectors: the embedded IdP, and the rogue IdP three times (generic,
// with a hosted domain, with the Google preset that requires email_verified).
// ---------------------------------------------------------------------------------------------

describe('OIDC login failures', { timeout: 120_000 }, () => {
  let idp: EmbeddedIdp & { url: string };
  let rogue: RogueIdp;
  let gw: TestGateway;
  let base: string;

  before(async () => {
    // The embedded IdP must know the gateway's redirect_uri up front, so pick the gateway port first.
    const port = await closedPort();
    base = `http://127.0.0.1:${port}`;
    idp = await startEmbeddedIdp({
      users,
      clients: [{ client_id: IDP_CLIENT.id, client_secret: IDP_CLIENT.secret, redirect_uris: [`${base}/callback/idp`] }],
    });
    rogue = await startRogueIdp({ clientId: ROGUE_CLIENT.id, clientSecret: ROGUE_CLIENT.secret });
    gw = await startGateway({
      server: { public_url: base, listen: `127.0.0.1:${port}` },
      connectors: [
        {
          id: 'idp',
          type: 'oidc',
          issuer: idp.url,
          client_id: IDP_CLIENT.id,
          client_secret: IDP_CLIENT.secret,
          scopes: ['openid', 'email', 'profile', 'groups'],
        },
        rogueConnector('rogue', rogue.url),
        rogueConnector('rogue-hd', rogue.url, { hosted_domain: 'example.com' }),
        rogueConnector('rogue-google', rogue.url, { provider: 'google' }),
      ],
    });
    assert.equal(gatewayUrl(gw), base);
  });

  after(async () => {
    await gw?.stop();
    await rogue?.close();
    await idp?.close();
  });

  // --- state -----------------------------------------------------------------------------------

  describe('state', () => {
    test('a callback whose state was never issued (or is malformed, or missing) → 400 state_mismatch', async () => {
      const never = randomBytes(32).toString('base64url');
      for (const query of [`code=abc&state=${never}`, 'code=abc&state=short', 'code=abc']) {
        const res = await fetchJson(`${base}/callback/rogue?${query}`);
        assert.ok(!res.setCookies.some((c) => c.startsWith(`${SESSION_COOKIE}=`)), 'no session cookie');
        await expectLoginFailure(gw, res, { status: 400, code: 'state_mismatch', connector: 'rogue' });
      }
    });

    test('browsers get an HTML error page carrying the code', async () => {
      const res = await fetchJson(`${base}/callback/rogue?code=abc&state=${randomBytes(32).toString('base64url')}`, 'text/html');
      assert.equal(res.status, 400);
      assert.match(res.headers.get('content-type') ?? '', /^text\/html/);
      assert.match(res.body, /<code id="error-code">state_mismatch<\/code>/);
      const requestId = res.headers.get('x-request-id');
      assert.ok(requestId);
      assertLoginFailureEvent(await auditedFor(gw, requestId), 'state_mismatch', 'rogue');
    });

    test('a callback opened in another browser → 400 state_mismatch, and the login is burnt', async () => {
      rogue.mode = 'ok';
      const a = new Browser();
      const started = await a.go(`${base}/login/rogue`, {}, `${base}/callback/`);
      const callbackUrl = redirectedTo(started, `${base}/callback/rogue?`).href;
      const tokenRequests = rogue.tokenRequests;

      // Browser B has the URL (code and state) but not A's per-login binding cookie.
      const b = new Browser();
      await expectLoginFailure(gw, await b.go(callbackUrl), { status: 400, code: 'state_mismatch', connector: 'rogue' }, b);
      assert.equal(rogue.tokenRequests, tokenRequests, 'the code never reached the token endpoint');

      // The state is take-once: B's attempt consumed it, so A must start again too.
      await expectLoginFailure(gw, await a.go(callbackUrl), { status: 400, code: 'state_mismatch', connector: 'rogue' }, a);
      assert.equal(rogue.tokenRequests, tokenRequests);
    });

    test('a state issued for one connector is refused on another connector’s callback', async () => {
      rogue.mode = 'ok';
      const browser = new Browser();
      const started = await browser.go(`${base}/login/rogue`, {}, `${base}/callback/`);
      const elsewhere = new URL(redirectedTo(started, `${base}/callback/rogue?`));
      elsewhere.pathname = '/callback/rogue-hd';
      const page = await browser.go(elsewhere.href);
      await expectLoginFailure(gw, page, { status: 400, code: 'state_mismatch', connector: 'rogue-hd' }, browser);
    });
  });

  // --- replay ------------------------------------------------------------------------------------

  describe('replay', () => {
    test('a completed callback replayed in the same browser → 400 state_mismatch, no second session', async () => {
      const browser = new Browser();
      const consent = await toConsent(browser, base, users[0]);
      const done = await browser.submit(consent, 'confirm', {}, `${base}/callback/`);
      const callbackUrl = redirectedTo(done, `${base}/callback/idp?`).href;

      const home = await browser.go(callbackUrl);
      assert.equal(home.status, 200, home.body);
      assert.equal(home.url, `${base}/`);
      const session = browser.cookie(SESSION_COOKIE);
      assert.ok(session, 'the first use of the callback signs in');
      const whoami = await browser.request(`${base}/api/v1/whoami`);
      assert.equal(whoami.status, 200);
      assert.equal((JSON.parse(whoami.body) as { username: string }).username, 'alice');

      const replay = await browser.request(callbackUrl);
      const body = parseError(replay);
      assert.equal(replay.status, 400);
      assert.equal(body.error, 'state_mismatch');
      assert.match(body.message, /already completed/);
      assertLoginFailureEvent(await auditedFor(gw, body.request_id), 'state_mismatch', 'idp');
      assert.equal(browser.cookie(SESSION_COOKIE), session, 'the replay neither replaced nor added a session');
      const successes = gw.auditEvents().filter((e) => e.type === 'user.login' && e.outcome === 'success' && e.user === 'alice');
      assert.equal(successes.length, 1);
    });

    // A replayed authorization code that gets past the state check cannot be built: the state is
    // stored take-once (Store.take, an atomic GETDEL on Redis) and is consumed before the code is
    // looked at, so a replayed callback is refused as state_mismatch and its code never reaches the
    // IdP's token endpoint, where single-use codes would be the second line of defence.
    test('a replayed callback never reaches the IdP token endpoint', async () => {
      rogue.mode = 'ok';
      const browser = new Browser();
      const started = await browser.go(`${base}/login/rogue`, {}, `${base}/callback/`);
      const callbackUrl = redirectedTo(started, `${base}/callback/rogue?`).href;
      assert.equal((await browser.go(callbackUrl)).status, 200);
      const tokenRequests = rogue.tokenRequests;
      const replay = await browser.request(callbackUrl);
      assert.equal(parseError(replay).error, 'state_mismatch');
      assert.equal(rogue.tokenRequests, tokenRequests);
    });
  });

  // --- ID token checks, one rogue mode each --------------------------------------------------------

  describe('ID token checks (rogue IdP)', () => {
    const cases: { mode: RogueMode; connector: string; status: number; code: string }[] = [
      { mode: 'nonce_mismatch', connector: 'rogue', status: 401, code: 'nonce_mismatch' },
      { mode: 'unknown_key_same_kid', connector: 'rogue', status: 401, code: 'id_token_signature' },
      { mode: 'unknown_key_other_kid', connector: 'rogue', status: 401, code: 'id_token_signature' },
      { mode: 'expired', connector: 'rogue', status: 401, code: 'id_token_expired' },
      { mode: 'alg_none', connector: 'rogue', status: 401, code: 'id_token_signature' },
      { mode: 'wrong_audience', connector: 'rogue', status: 401, code: 'id_token_audience' },
      { mode: 'code_rejected', connector: 'rogue', status: 401, code: 'code_rejected' },
      { mode: 'hd_mismatch', connector: 'rogue-hd', status: 403, code: 'hosted_domain_mismatch' },
      { mode: 'email_unverified', connector: 'rogue-google', status: 403, code: 'email_not_verified' },
    ];

    for (const { mode, connector, status, code } of cases) {
      test(`${mode} on ${connector} → ${status} ${code}`, async () => {
        rogue.mode = mode;
        const browser = new Browser();
        const tokenRequests = rogue.tokenRequests;
        const page = await browser.go(`${base}/login/${connector}`);
        assert.equal(rogue.tokenRequests, tokenRequests + 1, 'the gateway exchanged the code');
        assert.ok(page.url.startsWith(`${base}/callback/${connector}?`), page.url);
        await expectLoginFailure(gw, page, { status, code, connector }, browser);
      });
    }

    // The sanity check for the table above: the rogue IdP is correct unless a mode breaks it, and
    // its `ok` token passes the hosted-domain and email-verified checks too.
    for (const connector of ['rogue', 'rogue-hd', 'rogue-google']) {
      test(`ok on ${connector} → signed in`, async () => {
        rogue.mode = 'ok';
        const browser = new Browser();
        const home = await browser.go(`${base}/login/${connector}`);
        assert.equal(home.status, 200, home.body);
        assert.equal(home.url, `${base}/`);
        assert.ok(browser.cookie(SESSION_COOKIE));
        const me = JSON.parse((await browser.request(`${base}/api/v1/whoami`)).body) as { username: string; connector: string };
        assert.deepEqual([me.username, me.connector], [rogue.user.preferred_username, connector]);
      });
    }

    test('the rogue IdP enforces PKCE at its token endpoint', async () => {
      const verifier = randomBytes(32).toString('base64url');
      const authorize = new URL(`${rogue.url}/authorize`);
      authorize.search = new URLSearchParams({
        client_id: ROGUE_CLIENT.id,
        response_type: 'code',
        redirect_uri: `${base}/callback/rogue`,
        state: 's',
        nonce: 'n',
        code_challenge: createHash('sha256').update(verifier).digest('base64url'),
        code_challenge_method: 'S256',
      }).toString();
      const exchange = async (codeVerifier: string) => {
        const res = await fetch(authorize, { redirect: 'manual' });
        const code = new URL(res.headers.get('location') ?? '').searchParams.get('code') ?? '';
        const token = await fetch(`${rogue.url}/token`, {
          method: 'POST',
          headers: { authorization: `Basic ${Buffer.from(`${ROGUE_CLIENT.id}:${ROGUE_CLIENT.secret}`).toString('base64')}` },
          body: new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: `${base}/callback/rogue`, code_verifier: codeVerifier }),
        });
        return { status: token.status, body: (await token.json()) as { error?: string; id_token?: string } };
      };
      rogue.mode = 'ok';
      const bad = await exchange(randomBytes(32).toString('base64url'));
      assert.deepEqual([bad.status, bad.body.error], [400, 'invalid_grant']);
      const good = await exchange(verifier);
      assert.equal(good.status, 200);
      assert.ok(good.body.id_token);
    });
  });

  // --- IdP refuses ---------------------------------------------------------------------------------

  test('Deny on the IdP consent page (?error=access_denied) → 401 idp_error', async () => {
    const browser = new Browser();
    const consent = await toConsent(browser, base, users[1]);
    const denied = await browser.submit(consent, 'abort', {});
    assert.ok(denied.url.startsWith(`${base}/callback/idp?`), denied.url);
    assert.equal(new URL(denied.url).searchParams.get('error'), 'access_denied');
    const body = await expectLoginFailure(gw, denied, { status: 401, code: 'idp_error', connector: 'idp' }, browser);
    assert.match(body.message, /access_denied/);
  });

  // --- start of the login ------------------------------------------------------------------------

  test('unknown connector → 404 unknown_connector', async () => {
    const res = await fetchJson(`${base}/login/nope`);
    assert.equal(res.headers.get('location'), null);
    // The audit event leaves connector empty: only configured ids are recorded, never request text.
    await expectLoginFailure(gw, res, { status: 404, code: 'unknown_connector', connector: undefined });
  });

  test('an unknown connector id is recorded only truncated, in details', async () => {
    const long = `x${'y'.repeat(200)}`;
    const res = await fetchJson(`${base}/login/${long}`);
    const body = await expectLoginFailure(gw, res, { status: 404, code: 'unknown_connector', connector: undefined });
    const event = await auditedFor(gw, body.request_id);
    assert.equal(event.details?.requested_connector, long.slice(0, 64));
  });

  describe('return_to', () => {
    // Each one passed the old check and normalised into `//evil.example` (or was read as such by browsers).
    const hostile = [
      'https://evil.example/',
      '//evil.example',
      '/\\evil.example',
      'javascript:alert(1)',
      '/..//evil.example',
      '/.//evil.example',
      '/%2e%2e//evil.example',
      '/%2e//evil.example',
      '/%5cevil.example',
      '/\t/evil.example',
      '/\n/evil.example',
      'https:evil.example',
      '/%2e%2e%2f/evil.example',
    ];
    for (const returnTo of hostile) {
      test(`${JSON.stringify(returnTo)} → 400 return_to_rejected`, async () => {
        const res = await fetchJson(`${base}/login/rogue?return_to=${encodeURIComponent(returnTo)}`);
        assert.equal(res.headers.get('location'), null, 'no redirect anywhere');
        assert.deepEqual(res.setCookies, [], 'no login was started');
        await expectLoginFailure(gw, res, { status: 400, code: 'return_to_rejected', connector: 'rogue' });
      });
    }

    test('a same-origin return_to survives the round trip', async () => {
      rogue.mode = 'ok';
      const browser = new Browser();
      const page = await browser.go(`${base}/login/rogue?return_to=${encodeURIComponent('/api/v1/whoami')}`);
      assert.equal(page.url, `${base}/api/v1/whoami`);
      assert.equal(page.status, 200, page.body);
      assert.equal((JSON.parse(page.body) as { username: string }).username, rogue.user.preferred_username);
    });
  });

  // --- requests the HTTP parser refuses -----------------------------------------------------------

  describe('oversized requests', () => {
    test('a 100 KB query string on /callback → 431 request_too_large, audited as a login failure', async () => {
      const before = gw.auditEvents().length;
      const res = await rawRequest(
        base,
        `GET /callback/rogue?state=x&code=${'a'.repeat(100 * 1024)} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: application/json\r\n\r\n`,
      );
      assert.equal(res.status, 431);
      assert.equal((JSON.parse(res.body) as ErrorBody).error, 'request_too_large');
      const event = await gw.waitForEvent((e) => e.reason === 'request_too_large' && e.type === 'user.login');
      assertLoginFailureEvent(event, 'request_too_large', 'rogue');
      await new Promise((r) => setTimeout(r, 100));
      const added = gw.auditEvents().slice(before);
      assert.deepEqual(
        added.map((e) => [e.type, e.reason]),
        [['user.login', 'request_too_large']],
        'one event per rejected request',
      );
    });

    test('a 1 MB header on / → 431 request_too_large, audited as http.rejected', async () => {
      const before = gw.auditEvents().length;
      const res = await rawRequest(base, `GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: ${'b'.repeat(1024 * 1024)}\r\n\r\n`);
      assert.equal(res.status, 431);
      assert.equal((JSON.parse(res.body) as ErrorBody).error, 'request_too_large');
      const event = await gw.waitForEvent((e) => e.type === 'http.rejected' && e.reason === 'request_too_large');
      assert.equal(event.outcome, 'failure');
      assert.equal(event.details?.parser_error, 'HPE_HEADER_OVERFLOW');
      await new Promise((r) => setTimeout(r, 100));
      const added = gw.auditEvents().slice(before);
      assert.deepEqual(
        added.map((e) => [e.type, e.reason]),
        [['http.rejected', 'request_too_large']],
        'one event per rejected request, however many chunks the client sent',
      );
    });
  });
});

// ---------------------------------------------------------------------------------------------
// Missing peers: start order never matters
// ---------------------------------------------------------------------------------------------

describe('Redis unreachable', { timeout: 60_000 }, () => {
  let gw: TestGateway;
  let rogue: RogueIdp;

  before(async () => {
    rogue = await startRogueIdp({ clientId: ROGUE_CLIENT.id, clientSecret: ROGUE_CLIENT.secret });
    gw = await startGateway({
      state: { redis_url: `redis://127.0.0.1:${await closedPort()}` },
      connectors: [rogueConnector('rogue', rogue.url)],
    });
  });

  after(async () => {
    await gw?.stop();
    await rogue?.close();
  });

  test('/login answers 503 store_unavailable, audited; the process stays up and not ready', async () => {
    for (let attempt = 0; attempt < 2; attempt++) {
      const res = await fetchJson(`${gw.url}/login/rogue`);
      assert.equal(res.headers.get('retry-after'), '5');
      assert.equal(res.headers.get('location'), null);
      const body = await expectLoginFailure(gw, res, { status: 503, code: 'store_unavailable', connector: 'rogue' });
      assert.match(body.message, /session store is unreachable/);
    }
    assert.equal(rogue.tokenRequests, 0);
    assert.equal((await fetchJson(`${gw.url}/healthz`)).status, 200);
    const ready = await fetchJson(`${gw.url}/readyz`);
    assert.equal(ready.status, 503);
    const { checks } = JSON.parse(ready.body) as { checks: Record<string, string> };
    assert.notEqual(checks.store, 'ok');
  });
});

describe('IdP down when the gateway starts', { timeout: 60_000 }, () => {
  let gw: TestGateway;
  let rogue: RogueIdp | undefined;
  let idpPort: number;

  before(async () => {
    idpPort = await closedPort();
    gw = await startGateway({ connectors: [rogueConnector('late', `http://127.0.0.1:${idpPort}`)] });
  });

  after(async () => {
    await gw?.stop();
    await rogue?.close();
  });

  test('/login answers 502 idp_unavailable, audited; once the IdP is up, login works', async () => {
    const res = await fetchJson(`${gw.url}/login/late`);
    assert.equal(res.headers.get('location'), null);
    const body = await expectLoginFailure(gw, res, { status: 502, code: 'idp_unavailable', connector: 'late' });
    assert.match(body.message, /not reachable/);

    // Discovery failures are not cached: the next login after the IdP appears goes through.
    rogue = await startRogueIdp({ clientId: ROGUE_CLIENT.id, clientSecret: ROGUE_CLIENT.secret, port: idpPort });
    const browser = new Browser();
    const home = await browser.go(`${gw.url}/login/late`);
    assert.equal(home.status, 200, home.body);
    assert.ok(browser.cookie(SESSION_COOKIE));
  });
});
