import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';

import express from 'express';
import { createRemoteJWKSet, jwtVerify, type JWTPayload } from 'jose';

import { createEmbeddedIdp, startEmbeddedIdp, type EmbeddedIdp } from '../../src/demo-idp/server.js';
import { Browser, formAction, hiddenInputs, redirectedTo, type Page } from '../helpers/browsers/browser.js';

// ---------------------------------------------------------------------------------------------
// OIDC client helpers
// ---------------------------------------------------------------------------------------------

interface Discovery {
  issuer: string;
  authorization_endpoint: string;
  token_endpoint: string;
  jwks_uri: string;
  end_session_endpoint: string;
  userinfo_endpoint: string;
}

async function discover(issuer: string): Promise<Discovery> {
  const res = await fetch(`${issuer}/.well-known/openid-configuration`);
  assert.equal(res.status, 200);
  return (await res.json()) as Discovery;
}

const b64url = (buf: Buffer) => buf.toString('base64url');

function authRequest(disco: Discovery, clientId: string, redirectUri: string) {
  const verifier = b64url(randomBytes(32));
  const state = b64url(randomBytes(12));
  const nonce = b64url(randomBytes(12));
  const url = new URL(disco.authorization_endpoint);
  url.search = new URLSearchParams({
    client_id: clientId,
    response_type: 'code',
    redirect_uri: redirectUri,
    scope: 'openid email profile groups',
    state,
    nonce,
    code_challenge: b64url(createHash('sha256').update(verifier).digest()),
    code_challenge_method: 'S256',
  }).toString();
  return { url: url.href, verifier, state, nonce };
}

/** Authorization request → login form → (credentials) → consent form. */
async function toConsent(browser: Browser, authUrl: string, redirectUri: string, password = 'secret'): Promise<Page> {
  const login = await browser.go(authUrl, {}, redirectUri);
  assert.equal(login.status, 200, login.body);
  assert.match(login.body, /name="username"/);
  assert.match(login.body, /name="password"/);
  const consent = await browser.submit(login, 'login', { username: 'alice', password }, redirectUri);
  assert.equal(consent.status, 200, consent.body);
  assert.match(consent.body, />\s*Allow\s*</);
  assert.match(consent.body, />\s*Deny\s*</);
  return consent;
}

async function loginAndConsent(browser: Browser, authUrl: string, redirectUri: string): Promise<URL> {
  const consent = await toConsent(browser, authUrl, redirectUri);
  const done = await browser.submit(consent, 'confirm', {}, redirectUri);
  return redirectedTo(done, redirectUri);
}

async function exchangeCode(
  disco: Discovery,
  client: { id: string; secret?: string },
  code: string,
  redirectUri: string,
  verifier: string,
): Promise<{ id_token: string; access_token: string; token_type: string }> {
  const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded' };
  const form: Record<string, string> = { grant_type: 'authorization_code', code, redirect_uri: redirectUri, code_verifier: verifier };
  if (client.secret) {
    const basic = `${encodeURIComponent(client.id)}:${encodeURIComponent(client.secret)}`;
    headers.authorization = `Basic ${Buffer.from(basic).toString('base64')}`;
  } else {
    form.client_id = client.id;
  }
  const res = await fetch(disco.token_endpoint, { method: 'POST', headers, body: new URLSearchParams(form) });
  const body = (await res.json()) as { id_token: string; access_token: string; token_type: string };
  assert.equal(res.status, 200, JSON.stringify(body));
  return body;
}

async function verifyIdToken(disco: Discovery, idToken: string, audience: string, nonce: string): Promise<JWTPayload> {
  const { payload, protectedHeader } = await jwtVerify(idToken, createRemoteJWKSet(new URL(disco.jwks_uri)), {
    issuer: disco.issuer,
    audience,
  });
  assert.equal(protectedHeader.alg, 'RS256');
  assert.ok(protectedHeader.kid);
  assert.equal(payload.nonce, nonce);
  return payload;
}

const alice = {
  username: 'alice',
  password: 'secret',
  email: 'alice@example.com',
  name: 'Alice Liddell',
  groups: ['admins', 'devs'],
};

// ---------------------------------------------------------------------------------------------
// Standalone IdP (startEmbeddedIdp, mounted at '/')
// ---------------------------------------------------------------------------------------------

describe('embedded IdP (standalone)', () => {
  const redirectUri = 'http://127.0.0.1:9/cb';
  const postLogoutUri = 'http://127.0.0.1:9/signed-out';
  const client = { id: 'gatehouse', secret: 'gatehouse-secret' };
  let idp: EmbeddedIdp & { url: string };
  let disco: Discovery;

  before(async () => {
    idp = await startEmbeddedIdp({
      users: [alice],
      clients: [
        {
          client_id: client.id,
          client_secret: client.secret,
          redirect_uris: [redirectUri],
          post_logout_redirect_uris: [postLogoutUri],
        },
      ],
    });
    disco = await discover(idp.url);
  });

  after(async () => {
    await idp?.close();
  });

  test('discovery', () => {
    assert.match(idp.url, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.equal(idp.issuer, idp.url);
    assert.equal(disco.issuer, idp.url);
    assert.equal(disco.authorization_endpoint, `${idp.url}/auth`);
  });

  test('login + consent → code → tokens; ID token carries email, groups, preferred_username', async () => {
    const browser = new Browser();
    const req = authRequest(disco, client.id, redirectUri);

    const login = await browser.go(req.url, {}, redirectUri);
    assert.equal(login.status, 200);
    assert.match(login.body, /Gatehouse demo IdP/);
    assert.match(login.body, /gatehouse/);
    assert.match(login.body, /<form method="post" action="\/interaction\/[^"/]+\/login"/);
    assert.match(login.body, /<button type="submit"/);

    const consent = await browser.submit(login, 'login', { username: 'alice', password: 'secret' }, redirectUri);
    assert.equal(consent.status, 200);
    assert.match(consent.body, /<form method="post" action="\/interaction\/[^"/]+\/confirm"/);
    assert.match(consent.body, /<form method="post" action="\/interaction\/[^"/]+\/abort"/);
    assert.match(consent.body, /gatehouse/);

    const done = await browser.submit(consent, 'confirm', {}, redirectUri);
    const cb = redirectedTo(done, `${redirectUri}?`);
    const code = cb.searchParams.get('code');
    assert.ok(code);
    assert.equal(cb.searchParams.get('state'), req.state);
    assert.equal(cb.searchParams.get('iss'), idp.issuer);

    const tokens = await exchangeCode(disco, client, code, redirectUri, req.verifier);
    assert.equal(tokens.token_type, 'Bearer');
    const claims = await verifyIdToken(disco, tokens.id_token, client.id, req.nonce);
    assert.equal(claims.sub, 'alice');
    assert.equal(claims.preferred_username, 'alice');
    assert.equal(claims.name, 'Alice Liddell');
    assert.equal(claims.email, 'alice@example.com');
    assert.equal(claims.email_verified, true);
    assert.deepEqual(claims.groups, ['admins', 'devs']);
    assert.ok(claims.exp! - claims.iat! === 600, 'default ID token TTL is 600 s');

    // userinfo works with the access token
    const ui = await fetch(disco.userinfo_endpoint, { headers: { authorization: `Bearer ${tokens.access_token}` } });
    assert.equal(ui.status, 200);
    assert.equal(((await ui.json()) as { email: string }).email, 'alice@example.com');

    // a second authorization in the same browser reuses the session and the grant: no forms
    const again = authRequest(disco, client.id, redirectUri);
    const sso = await browser.go(again.url, {}, redirectUri);
    const ssoCb = redirectedTo(sso, redirectUri);
    assert.equal(ssoCb.searchParams.get('state'), again.state);
    assert.ok(ssoCb.searchParams.get('code'));

    // RP-initiated logout with id_token_hint + post_logout_redirect_uri via the real confirm form
    const endSession = new URL(disco.end_session_endpoint);
    endSession.search = new URLSearchParams({
      id_token_hint: tokens.id_token,
      post_logout_redirect_uri: postLogoutUri,
      state: 'bye',
    }).toString();
    const confirm = await browser.go(endSession.href, {}, postLogoutUri);
    assert.equal(confirm.status, 200, confirm.body);
    assert.match(confirm.body, /id="op\.logoutForm"/);
    const loggedOut = await browser.submit(confirm, 'session/end/confirm', { ...hiddenInputs(confirm.body), logout: 'yes' }, postLogoutUri);
    assert.equal(loggedOut.location, `${postLogoutUri}?state=bye`);

    // the session is gone: the next authorization shows the login form again
    const fresh = await browser.go(authRequest(disco, client.id, redirectUri).url, {}, redirectUri);
    assert.equal(fresh.status, 200);
    assert.match(fresh.body, /name="password"/);

    // the code is single-use, and logout revoked the grant's access token
    const replay = await fetch(disco.token_endpoint, {
      method: 'POST',
      headers: {
        authorization: `Basic ${Buffer.from(`${client.id}:${client.secret}`).toString('base64')}`,
        'content-type': 'application/x-www-form-urlencoded',
      },
      body: new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: redirectUri, code_verifier: req.verifier }),
    });
    assert.equal(replay.status, 400);

    const revoked = await fetch(disco.userinfo_endpoint, { headers: { authorization: `Bearer ${tokens.access_token}` } });
    assert.equal(revoked.status, 401);
  });

  test('wrong password re-renders the login form with an error', async () => {
    const browser = new Browser();
    const req = authRequest(disco, client.id, redirectUri);
    const login = await browser.go(req.url, {}, redirectUri);
    const failed = await browser.submit(login, 'login', { username: 'alice', password: 'nope' }, redirectUri);
    assert.equal(failed.status, 401);
    assert.match(failed.body, /Invalid username or password/);
    assert.match(failed.body, /value="alice"/);
    assert.ok(formAction(failed.body, 'login'));

    const unknown = await browser.submit(failed, 'login', { username: 'mallory', password: 'secret' }, redirectUri);
    assert.equal(unknown.status, 401);
    assert.match(unknown.body, /Invalid username or password/);

    // the same interaction still completes with the right password
    const consent = await browser.submit(unknown, 'login', { username: 'alice', password: 'secret' }, redirectUri);
    assert.equal(consent.status, 200);
    const done = await browser.submit(consent, 'confirm', {}, redirectUri);
    const cb = redirectedTo(done, redirectUri);
    assert.ok(cb.searchParams.get('code'));
    assert.equal(cb.searchParams.get('state'), req.state);
  });

  test('Deny on the consent page returns access_denied to the redirect_uri', async () => {
    const browser = new Browser();
    const req = authRequest(disco, client.id, redirectUri);
    const consent = await toConsent(browser, req.url, redirectUri);
    const denied = await browser.submit(consent, 'abort', {}, redirectUri);
    const cb = redirectedTo(denied, redirectUri);
    assert.equal(cb.searchParams.get('error'), 'access_denied');
    assert.equal(cb.searchParams.get('error_description'), 'End-User aborted interaction');
    assert.equal(cb.searchParams.get('state'), req.state);
    assert.equal(cb.searchParams.get('code'), null);
  });

  test('PKCE is required', async () => {
    const req = new URL(authRequest(disco, client.id, redirectUri).url);
    req.searchParams.delete('code_challenge');
    req.searchParams.delete('code_challenge_method');
    const res = await new Browser().request(req.href);
    assert.equal(res.status, 303);
    const cb = redirectedTo(res, redirectUri);
    assert.equal(cb.origin + cb.pathname, redirectUri);
    assert.equal(cb.searchParams.get('error'), 'invalid_request');
  });

  test('interaction page without its cookie shows an expired-session page', async () => {
    const browser = new Browser();
    const login = await browser.go(authRequest(disco, client.id, redirectUri).url, {}, redirectUri);
    const page = await new Browser().request(login.url);
    assert.equal(page.status, 400);
    assert.match(page.body, /expired/);
  });
});

// ---------------------------------------------------------------------------------------------
// Router mounted under a prefix in a host express app
// ---------------------------------------------------------------------------------------------

describe('embedded IdP (router mounted at /demo-idp)', () => {
  const redirectUri = 'http://127.0.0.1:9/prefixed/cb';
  let server: http.Server;
  let idp: EmbeddedIdp;
  let base: string;
  let disco: Discovery;

  before(async () => {
    const app = express();
    app.get('/healthz', (_req, res) => {
      res.send('ok');
    });
    server = http.createServer(app);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    idp = await createEmbeddedIdp({
      issuer: `${base}/demo-idp`,
      title: 'Prefixed IdP',
      users: [{ ...alice, extraClaims: { department: 'R&D' } }],
      clients: [
        { client_id: 'confidential', client_secret: 's3cret', redirect_uris: [redirectUri] },
        { client_id: 'public-spa', redirect_uris: [redirectUri] },
      ],
    });
    app.use('/demo-idp', idp.router);
    disco = await discover(`${base}/demo-idp`);
  });

  after(async () => {
    await idp?.close();
    server?.closeAllConnections();
    await new Promise<void>((resolve) => server?.close(() => resolve()));
  });

  test('discovery carries the prefixed issuer and endpoints', async () => {
    assert.equal(idp.issuer, `${base}/demo-idp`);
    assert.equal(disco.issuer, `${base}/demo-idp`);
    for (const ep of [disco.authorization_endpoint, disco.token_endpoint, disco.jwks_uri, disco.end_session_endpoint]) {
      assert.ok(ep.startsWith(`${base}/demo-idp/`), ep);
    }
    // the host app keeps its own routes
    assert.equal(await (await fetch(`${base}/healthz`)).text(), 'ok');
  });

  for (const client of [{ id: 'confidential', secret: 's3cret' }, { id: 'public-spa' }]) {
    test(`login flow under the prefix (${client.id})`, async () => {
      const browser = new Browser();
      const req = authRequest(disco, client.id, redirectUri);
      const login = await browser.go(req.url, {}, redirectUri);
      assert.equal(login.status, 200);
      assert.ok(login.url.startsWith(`${base}/demo-idp/interaction/`), login.url);
      assert.match(login.body, /<form method="post" action="\/demo-idp\/interaction\/[^"/]+\/login"/);
      assert.match(login.body, /Prefixed IdP/);

      const consent = await browser.submit(login, 'login', { username: 'alice', password: 'secret' }, redirectUri);
      assert.match(consent.body, /action="\/demo-idp\/interaction\/[^"/]+\/confirm"/);
      assert.match(consent.body, new RegExp(client.id));
      const done = await browser.submit(consent, 'confirm', {}, redirectUri);
      const cb = redirectedTo(done, redirectUri);
      assert.equal(cb.searchParams.get('state'), req.state);
      assert.equal(cb.searchParams.get('iss'), `${base}/demo-idp`);

      const tokens = await exchangeCode(disco, client, cb.searchParams.get('code')!, redirectUri, req.verifier);
      const claims = await verifyIdToken(disco, tokens.id_token, client.id, req.nonce);
      assert.equal(claims.iss, `${base}/demo-idp`);
      assert.equal(claims.email, 'alice@example.com');
      assert.deepEqual(claims.groups, ['admins', 'devs']);
      assert.equal(claims.preferred_username, 'alice');
      assert.equal(claims.department, 'R&D');
    });
  }

  test('logout confirm form works under the prefix', async () => {
    const browser = new Browser();
    const req = authRequest(disco, 'confidential', redirectUri);
    const cb = await loginAndConsent(browser, req.url, redirectUri);
    const tokens = await exchangeCode(disco, { id: 'confidential', secret: 's3cret' }, cb.searchParams.get('code')!, redirectUri, req.verifier);

    const endSession = new URL(disco.end_session_endpoint);
    endSession.searchParams.set('id_token_hint', tokens.id_token);
    const confirm = await browser.go(endSession.href);
    assert.equal(confirm.status, 200);
    assert.match(confirm.body, /action="[^"]*\/demo-idp\/session\/end\/confirm"/);
    const done = await browser.submit(confirm, 'session/end/confirm', { ...hiddenInputs(confirm.body), logout: 'yes' });
    assert.equal(done.status, 200, done.body);
    assert.match(done.body, /Signed out/);
  });
});
