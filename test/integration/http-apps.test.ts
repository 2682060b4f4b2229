import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createServer, request as httpRequest } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { WebSocket } from 'ws';
import { verifyAssertion } from '../../docs/examples/verify-assertion.mjs';
import { alice, bob, startAppsGateway, type AppsSetup } from '../helpers/gateways/apps.js';
import { closedPort } from '../helpers/peers/services.js';
import { PATTERN_CHUNK, patternChunk, startUpstream, type Upstream } from '../helpers/peers/upstream.js';
import { ACCEPT_HTML, Browser } from '../helpers/browsers/browser.js';
import { openSignedIn } from '../helpers/browsers/sign-in.js';

const MB = 1024 * 1024;
// /metrics needs its bearer token (server.metrics_bearer_token_file), generated per run.
const METRICS_TOKEN = randomBytes(24).toString('base64url');
const METRICS_TOKEN_FILE = join(mkdtempSync(join(tmpdir(), 'gatehouse-apps-metrics-')), 'token');
writeFileSync(METRICS_TOKEN_FILE, METRICS_TOKEN, { mode: 0o600 });

describe('HTTP apps through the gateway proxy', () => {
  let s: AppsSetup;
  let upstream: Upstream;
  let gw: string;
  let down: number;

  before(async () => {
    upstream = await startUpstream();
    down = await closedPort();
    s = await startAppsGateway(
      [
        {
          name: 'wiki',
          upstream: upstream.url,
          path: '/apps/wiki/',
          trust_gateway_origin: true,
          roles: ['dev'],
          headers: { 'X-WEBAUTH-USER': '{{username}}', 'X-Roles': '{{roles}}' },
          audit_requests: true,
        },
        { name: 'admin', upstream: upstream.url, path: '/apps/admin/', trust_gateway_origin: true, roles: ['sre'] },
        { name: 'stripped', upstream: upstream.url, path: '/apps/stripped/', trust_gateway_origin: true, strip_prefix: true, roles: ['dev'] },
        { name: 'grafana', upstream: upstream.url, public_host: 'grafana.localhost', roles: ['dev'] },
        { name: 'down', upstream: `http://127.0.0.1:${down}`, path: '/apps/down/', trust_gateway_origin: true, roles: ['dev'] },
        { name: 'slow', upstream: upstream.url, path: '/apps/slow/', trust_gateway_origin: true, roles: ['dev'], timeouts: { response: '300ms' } },
      ],
      { server: { metrics_bearer_token_file: METRICS_TOKEN_FILE } },
    );
    gw = s.gw.url;
  });
  after(async () => {
    await s.stop();
    await upstream.close();
    rmSync(dirname(METRICS_TOKEN_FILE), { recursive: true, force: true });
  });

  const json = (page: { body: string }) => JSON.parse(page.body) as { url: string; headers: Record<string, string> };

  test('an unauthenticated browser signs in and comes back to the same URL; identity headers are set', async () => {
    const browser = new Browser({ accept: ACCEPT_HTML });
    const first = await browser.request(`${gw}/apps/wiki/page?x=1&y=2`);
    assert.equal(first.status, 302);
    assert.equal(first.location, `${gw}/login?return_to=${encodeURIComponent('/apps/wiki/page?x=1&y=2')}`);

    const page = await openSignedIn(browser, `${gw}/apps/wiki/page?x=1&y=2`, alice);
    assert.equal(page.status, 200);
    assert.equal(page.url, `${gw}/apps/wiki/page?x=1&y=2`);
    const seen = json(page);
    assert.equal(seen.url, '/apps/wiki/page?x=1&y=2');
    assert.equal(seen.headers['x-forwarded-user'], 'alice');
    assert.equal(seen.headers['x-forwarded-email'], 'alice@example.com');
    assert.equal(seen.headers['x-forwarded-groups'], 'admins,devs');
    assert.equal(seen.headers['x-webauth-user'], 'alice');
    assert.equal(seen.headers['x-roles'], 'dev,sre');
    assert.equal(seen.headers['x-forwarded-prefix'], '/apps/wiki/');
    assert.equal(seen.headers['x-forwarded-proto'], 'http');
    assert.equal(seen.headers.host, new URL(upstream.url).host, 'rewrite.host defaults to the upstream host');
    assert.ok(seen.headers['gatehouse-jwt-assertion'], 'assertion sent');
    assert.ok(browser.cookies('127.0.0.1').gatehouse_session, 'the browser holds a gateway session');
    // (The test IdP's own cookies share the host name 127.0.0.1, so a real browser sends them too.)
    assert.doesNotMatch(seen.headers.cookie ?? '', /gatehouse_/, 'the gateway session cookie is stripped before the app');

    const start = await s.gw.waitForEvent((e) => e.type === 'app.session.start' && e.outcome === 'success');
    assert.equal(start.code, 'GH6000I');
    assert.equal(start.user, 'alice');
    assert.deepEqual(start.details, { app: 'wiki', via: 'session' });
    await browser.request(`${gw}/apps/wiki/again`);
    await s.gw.waitForEvent((e) => e.type === 'app.request' && (e.details as { path: string }).path === '/apps/wiki/again');
    assert.equal(
      s.gw.auditEvents().filter((e) => e.type === 'app.session.start' && e.user === 'alice' && (e.details as { app: string }).app === 'wiki').length,
      1,
      'one app.session.start per session and app',
    );
    const metrics = await (await fetch(`${gw}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } })).text();
    assert.match(
      metrics,
      /^gatehouse_proxy_request_duration_seconds_count\{kind="app",target="wiki",code="200"\} [1-9]/m,
      'proxied requests are timed per app',
    );
  });

  test('spoofed identity headers from the client never reach the upstream; other cookies pass', async () => {
    const browser = new Browser({ accept: ACCEPT_HTML });
    await openSignedIn(browser, `${gw}/apps/wiki/`, alice);
    const session = browser.cookies('127.0.0.1').gatehouse_session;
    const res = await fetch(`${gw}/apps/wiki/spoof`, {
      headers: {
        cookie: `theme=dark; gatehouse_session=${session}; lang=en`,
        'x-forwarded-user': 'mallory',
        'X-Forwarded-Email': 'mallory@evil.example',
        'x-forwarded-groups': 'root',
        'x-auth-request-user': 'mallory',
        'gatehouse-jwt-assertion': 'forged',
        'gatehouse-anything': 'forged',
        'x-webauth-user': 'root',
      },
    });
    assert.equal(res.status, 200);
    const { headers } = (await res.json()) as { headers: Record<string, string> };
    assert.equal(headers['x-forwarded-user'], 'alice');
    assert.equal(headers['x-forwarded-email'], 'alice@example.com');
    assert.equal(headers['x-forwarded-groups'], 'admins,devs');
    assert.equal(headers['x-webauth-user'], 'alice');
    assert.equal(headers['x-auth-request-user'], undefined);
    assert.equal(headers['gatehouse-anything'], undefined);
    assert.notEqual(headers['gatehouse-jwt-assertion'], 'forged');
    assert.equal(headers.cookie, 'theme=dark; lang=en');
    assert.ok(!JSON.stringify(upstream.seen).includes('mallory'), 'no spoofed value reached the upstream, ever');
  });

  test('the assertion verifies against the JWKS with the app as audience (the guide code), and is reused', async () => {
    const browser = new Browser({ accept: ACCEPT_HTML });
    await openSignedIn(browser, `${gw}/apps/wiki/`, bob);
    const one = json(await browser.request(`${gw}/apps/wiki/a`)).headers['gatehouse-jwt-assertion'];
    const two = json(await browser.request(`${gw}/apps/wiki/b`)).headers['gatehouse-jwt-assertion'];
    assert.equal(one, two, 'signed once per session and app, not per request');
    const claims = await verifyAssertion(one, { gatehouseUrl: gw, audience: 'gatehouse-app:wiki' });
    assert.equal(claims.iss, gw);
    assert.equal(claims.aud, 'gatehouse-app:wiki');
    assert.equal(claims.sub, 'corp:bob');
    assert.equal(claims.email, 'bob@corp.example');
    assert.deepEqual(claims.groups, ['devs']);
    assert.deepEqual(claims.roles, ['dev']);
    assert.ok(Number(claims.exp) - Number(claims.iat) <= 300, 'short expiry');
    await assert.rejects(verifyAssertion(one, { gatehouseUrl: gw, audience: 'gatehouse-app:grafana' }), /aud/);
    await assert.rejects(verifyAssertion(`${one.slice(0, -4)}AAAA`, { gatehouseUrl: gw, audience: 'gatehouse-app:wiki' }), /signature/);
  });

  test('50 MB upload and download stream through byte-exact', async () => {
    const browser = new Browser({ accept: ACCEPT_HTML });
    await openSignedIn(browser, `${gw}/apps/wiki/`, alice);
    const cookie = `gatehouse_session=${browser.cookies('127.0.0.1').gatehouse_session}`;
    const size = 50 * MB;

    // Upload: generated on the fly, hashed as it goes, so nothing in this test holds 50 MB either.
    const sent = createHash('sha256');
    const upload = await new Promise<{ bytes: number; sha256: string }>((resolve, reject) => {
      const req = httpRequest(`${gw}/apps/wiki/upload`, { method: 'POST', headers: { cookie, 'content-type': 'application/octet-stream' } }, (res) => {
        let body = '';
        res
          .setEncoding('utf8')
          .on('data', (c) => (body += c))
          .on('end', () => resolve(JSON.parse(body)));
      });
      req.on('error', reject);
      let index = 0;
      const pump = () => {
        while (index * PATTERN_CHUNK < size) {
          const chunk = patternChunk(index++, PATTERN_CHUNK);
          sent.update(chunk);
          if (!req.write(chunk)) return void req.once('drain', pump);
        }
        req.end();
      };
      pump();
    });
    assert.equal(upload.bytes, size);
    assert.equal(upload.sha256, sent.digest('hex'));

    const res = await fetch(`${gw}/apps/wiki/download?bytes=${size}`, { headers: { cookie } });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-length'), String(size));
    const got = createHash('sha256');
    let bytes = 0;
    for await (const chunk of res.body!) {
      bytes += chunk.length;
      got.update(chunk);
    }
    const expected = createHash('sha256');
    for (let i = 0; i * PATTERN_CHUNK < size; i++) expected.update(patternChunk(i, PATTERN_CHUNK));
    assert.equal(bytes, size);
    assert.equal(got.digest('hex'), expected.digest('hex'));
  });

  test('an upload with Expect: 100-continue: the gateway answers the 100 itself and streams the body on', async () => {
    const browser = new Browser({ accept: ACCEPT_HTML });
    await openSignedIn(browser, `${gw}/apps/wiki/`, alice);
    const cookie = `gatehouse_session=${browser.cookies('127.0.0.1').gatehouse_session}`;
    const body = patternChunk(7, PATTERN_CHUNK);
    const result = await new Promise<{ status: number; continued: boolean; body: { bytes: number; sha256: string } }>((resolve, reject) => {
      let continued = false;
      const req = httpRequest(
        `${gw}/apps/wiki/upload`,
        { method: 'POST', headers: { cookie, expect: '100-continue', 'content-length': body.length } },
        (res) => {
          let text = '';
          res
            .setEncoding('utf8')
            .on('data', (c) => (text += c))
            .on('end', () => resolve({ status: res.statusCode!, continued, body: JSON.parse(text) }));
        },
      );
      req.on('continue', () => {
        continued = true;
        req.end(body);
      });
      req.on('error', reject);
    });
    assert.equal(result.status, 200);
    assert.ok(result.continued, 'the client got 100 Continue before sending the body');
    assert.deepEqual(result.body, { bytes: body.length, sha256: createHash('sha256').update(body).digest('hex') });
    const seen = upstream.seen.filter((r) => r.url === '/apps/wiki/upload').at(-1)!;
    assert.equal(seen.headers.expect, undefined, 'Expect is answered by the gateway, not forwarded');
  });

  test('a client that stops reading pauses the upstream: memory stays bounded', async () => {
    const browser = new Browser({ accept: ACCEPT_HTML });
    await openSignedIn(browser, `${gw}/apps/wiki/`, alice);
    const cookie = `gatehouse_session=${browser.cookies('127.0.0.1').gatehouse_session}`;
    const start = upstream.downloadedBytes();
    const downloadsBefore = upstream.seen.filter((r) => r.url.includes('/download?bytes=')).length;
    let received = 0;
    const req = httpRequest(`${gw}/apps/wiki/download?bytes=${1024 * MB}`, { headers: { cookie } });
    req.on('error', () => {});
    const res = await new Promise<import('node:http').IncomingMessage>((resolve) => req.on('response', resolve).end());
    await new Promise<void>((resolve) =>
      res.once('data', (chunk: Buffer) => {
        received += chunk.length;
        res.pause();
        resolve();
      }),
    );
    // Let every buffer on the way fill up: the upstream then waits for the gateway.
    let sent = 0;
    for (let previous = -1; sent !== previous; await new Promise((r) => setTimeout(r, 300))) {
      previous = sent;
      sent = upstream.downloadedBytes() - start;
    }
    // Loopback socket buffers (a few MB each way) and the relay's own 256 KiB: far below 1 GB.
    assert.ok(sent - received < 48 * MB, `${sent - received} bytes in flight while the client read ${received}`);
    req.destroy();
    await upstream.downloadsClosed(downloadsBefore + 1);
  });

  test('a client leaving mid-download ends the upstream response; the app keeps answering', async () => {
    const browser = new Browser({ accept: ACCEPT_HTML });
    await openSignedIn(browser, `${gw}/apps/wiki/`, alice);
    const cookie = `gatehouse_session=${browser.cookies('127.0.0.1').gatehouse_session}`;
    const downloads = () => upstream.seen.filter((r) => r.url.includes('/download?bytes=')).length;
    const before = downloads();
    await new Promise<void>((resolve, reject) => {
      const req = httpRequest(`${gw}/apps/wiki/download?bytes=${500 * MB}`, { headers: { cookie } }, (res) => {
        res.once('data', () => {
          req.destroy();
          resolve();
        });
      });
      req.on('error', (err) => ((err as NodeJS.ErrnoException).code === 'ECONNRESET' ? resolve() : reject(err)));
      req.end();
    });
    assert.equal(downloads(), before + 1);
    // The upstream stops streaming: its open download closes well before 500 MB could have gone out.
    await upstream.downloadsClosed(before + 1);
    const page = await browser.go(`${gw}/apps/wiki/after-abort`);
    assert.equal(page.status, 200);
  });

  test('a client leaving mid-upload is not taken for an upstream failure', async () => {
    const browser = new Browser({ accept: ACCEPT_HTML });
    await openSignedIn(browser, `${gw}/apps/wiki/`, alice);
    const cookie = `gatehouse_session=${browser.cookies('127.0.0.1').gatehouse_session}`;
    const uploads = () => upstream.seen.filter((r) => r.url === '/apps/wiki/upload').length;
    const before = uploads();
    const req = httpRequest(`${gw}/apps/wiki/upload`, { method: 'POST', headers: { cookie, 'content-length': 20 * MB } });
    req.on('error', () => {});
    for (let i = 0; i < 16; i++) req.write(patternChunk(i, PATTERN_CHUNK));
    while (uploads() === before) await new Promise((r) => setTimeout(r, 10));
    req.destroy();
    // Then the app answers as before, and the audit log has no outage for it.
    assert.equal((await browser.go(`${gw}/apps/wiki/after-upload-abort`)).status, 200);
    await new Promise((r) => setTimeout(r, 200));
    assert.deepEqual(
      s.gw.auditEvents().filter((e) => e.type === 'app.upstream' && (e.details as { app: string }).app === 'wiki'),
      [],
    );
  });

  test('a WebSocket echoes through the proxy, with identity headers on the handshake', async () => {
    const browser = new Browser({ accept: ACCEPT_HTML });
    await openSignedIn(browser, `${gw}/apps/wiki/`, alice);
    const cookie = `gatehouse_session=${browser.cookies('127.0.0.1').gatehouse_session}`;
    const ws = new WebSocket(`${gw.replace('http', 'ws')}/apps/wiki/socket`, { headers: { cookie, 'x-forwarded-user': 'mallory' } });
    await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
    const echoed = new Promise<string>((resolve) => ws.once('message', (data) => resolve(String(data))));
    ws.send('hello through gatehouse');
    assert.equal(await echoed, 'hello through gatehouse');
    const binary = new Promise<Buffer>((resolve) => ws.once('message', (data) => resolve(data as Buffer)));
    ws.send(Buffer.from([0, 1, 2, 255]));
    assert.deepEqual([...(await binary)], [0, 1, 2, 255]);
    ws.close();
    const handshake = [...upstream.seen].reverse().find((r) => r.method === 'WEBSOCKET')!;
    assert.equal(handshake.url, '/apps/wiki/socket');
    assert.equal(handshake.headers['x-forwarded-user'], 'alice');
    assert.doesNotMatch(handshake.headers.cookie ?? '', /gatehouse_/);

    const anonymous = new WebSocket(`${gw.replace('http', 'ws')}/apps/wiki/socket`);
    const status = await new Promise<number>((resolve) => anonymous.once('unexpected-response', (_req, res) => resolve(res.statusCode!)));
    assert.equal(status, 401);
    const crossSite = new WebSocket(`${gw.replace('http', 'ws')}/apps/wiki/socket`, { headers: { cookie, origin: 'http://evil.localhost' } });
    assert.equal(await new Promise<number>((resolve) => crossSite.once('unexpected-response', (_req, res) => resolve(res.statusCode!))), 403);
  });

  test('redirects to the upstream come back to the public URL; strip_prefix; app cookies pass, ours cannot be planted', async () => {
    const browser = new Browser({ accept: ACCEPT_HTML });
    await openSignedIn(browser, `${gw}/apps/wiki/`, alice);
    const redirect = await browser.request(`${gw}/apps/wiki/redirect`);
    assert.equal(redirect.status, 302);
    assert.equal(redirect.location, `${gw}/apps/wiki/target?from=redirect`);

    const stripped = await browser.request(`${gw}/apps/stripped/deep/path?q=1`);
    assert.equal(json(stripped).url, '/deep/path?q=1');
    const strippedRedirect = await browser.request(`${gw}/apps/stripped/redirect`);
    assert.equal(strippedRedirect.location, `${gw}/apps/stripped/target?from=redirect`);

    const bare = await browser.request(`${gw}/apps/wiki?x=1`);
    assert.equal(bare.status, 302);
    assert.equal(bare.location, `${gw}/apps/wiki/?x=1`);

    const before = browser.cookies('127.0.0.1').gatehouse_session;
    const cookies = await browser.request(`${gw}/apps/wiki/set-cookie`);
    assert.deepEqual(cookies.headers['set-cookie'], ['app_pref=dark; Path=/']);
    assert.equal(browser.cookies('127.0.0.1').gatehouse_session, before);
  });

  test('logout ends app access at once', async () => {
    const browser = new Browser({ accept: ACCEPT_HTML });
    await openSignedIn(browser, `${gw}/apps/wiki/`, alice);
    assert.equal((await browser.request(`${gw}/apps/wiki/x`)).status, 200);
    await browser.request(`${gw}/logout`, { method: 'POST', headers: { 'sec-fetch-site': 'same-origin' } });
    const after = await browser.request(`${gw}/apps/wiki/x`);
    assert.equal(after.status, 302);
    assert.match(after.location!, /\/login\?return_to=/);
  });

  describe('host-based app', () => {
    test('the app-scoped cookie works and the gateway session cookie never arrives upstream', async () => {
      const host = `grafana.localhost:${new URL(gw).port}`;
      const browser = new Browser({ accept: ACCEPT_HTML });
      const first = await browser.request(`http://${host}/d/home?orgId=1`);
      assert.equal(first.status, 302);
      assert.match(first.location!, new RegExp(`^${gw}/auth/app/authorize\\?app=grafana&state=`));
      assert.match(String(first.headers['set-cookie']), /gatehouse_app_state_[\w-]+=.*HttpOnly.*SameSite=Lax/i);

      const page = await openSignedIn(browser, `http://${host}/d/home?orgId=1`, alice);
      assert.equal(page.status, 200);
      assert.equal(page.url, `http://${host}/d/home?orgId=1`);
      assert.equal(json(page).headers['x-forwarded-user'], 'alice');

      const appCookies = browser.cookies('grafana.localhost');
      assert.ok(appCookies.gatehouse_app_session, 'an app-scoped session cookie on the app host');
      assert.equal(appCookies.gatehouse_session, undefined, 'no gateway session cookie on the app host');
      assert.ok(browser.cookies('127.0.0.1').gatehouse_session);

      const direct = await browser.request(`http://${host}/api/health`);
      assert.equal(direct.status, 200, 'the app cookie alone is enough, no hand-off');
      const seen = json(direct);
      assert.equal(seen.headers['x-forwarded-user'], 'alice');
      assert.equal(seen.headers['x-forwarded-host'], host);
      // Even a browser that sends the gateway cookie to the app host does not get it through.
      const session = browser.cookies('127.0.0.1').gatehouse_session;
      const leaky = await browser.request(`http://${host}/leak`, {
        headers: { cookie: `gatehouse_session=${session}; gatehouse_app_session=${appCookies.gatehouse_app_session}; a=b` },
      });
      assert.equal(json(leaky).headers.cookie, 'a=b');
      for (const r of upstream.seen)
        assert.ok(!String(r.headers.cookie ?? '').includes(session) && !String(r.headers.cookie ?? '').includes(appCookies.gatehouse_app_session));

      const redirect = await browser.request(`http://${host}/redirect`);
      assert.equal(redirect.location, `http://${host}/target?from=redirect`, 'redirects go to the app host');
    });

    test('a replayed or stolen hand-off code is refused', async () => {
      const host = `grafana.localhost:${new URL(gw).port}`;
      const browser = new Browser({ accept: ACCEPT_HTML });
      await openSignedIn(browser, `${gw}/`, alice);
      const start = await browser.request(`http://${host}/x`);
      const authorize = await browser.request(start.location!);
      assert.equal(authorize.status, 302);
      const callback = authorize.location!;
      assert.match(callback, new RegExp(`^http://${host}/\\.gatehouse/callback\\?code=`));

      const thief = new Browser({ accept: ACCEPT_HTML });
      const stolen = await thief.request(callback);
      assert.equal(stolen.status, 400);
      assert.match(stolen.body, /app_handoff_invalid/);
      // The thief's attempt consumed the code: the rightful browser must start again, nothing leaks.
      const replay = await browser.request(callback);
      assert.equal(replay.status, 400);
      assert.ok(!thief.cookies('grafana.localhost').gatehouse_app_session);
      const failure = await s.gw.waitForEvent((e) => e.type === 'app.session.start' && e.outcome === 'failure');
      assert.equal(failure.code, 'GH6001W');
      assert.equal(failure.reason, 'app_handoff_invalid');
    });
  });

  describe('forward-auth /auth/verify', () => {
    test('401 without a session, 200 with headers, 403 on the role or group check, 404 for unknown apps', async () => {
      const none = await fetch(`${gw}/auth/verify?app=wiki`);
      assert.equal(none.status, 401);
      assert.equal(((await none.json()) as { error: string }).error, 'unauthenticated');

      const browser = new Browser({ accept: ACCEPT_HTML });
      await openSignedIn(browser, `${gw}/`, bob);
      const cookie = `gatehouse_session=${browser.cookies('127.0.0.1').gatehouse_session}`;
      const ok = await fetch(`${gw}/auth/verify?app=wiki`, { headers: { cookie } });
      assert.equal(ok.status, 200);
      assert.equal(ok.headers.get('x-auth-request-user'), 'bob');
      assert.equal(ok.headers.get('x-auth-request-email'), 'bob@corp.example');
      assert.equal(ok.headers.get('x-auth-request-groups'), 'devs');
      assert.equal(ok.headers.get('x-webauth-user'), 'bob', "the app's configured headers too");
      const claims = await verifyAssertion(ok.headers.get('gatehouse-jwt-assertion')!, { gatehouseUrl: gw, audience: 'gatehouse-app:wiki' });
      assert.equal(claims.preferred_username, 'bob');

      const denied = await fetch(`${gw}/auth/verify?app=admin`, { headers: { cookie } });
      assert.equal(denied.status, 403);
      assert.equal(((await denied.json()) as { error: string }).error, 'access_denied');
      const event = await s.gw.waitForEvent((e) => e.type === 'access.denied' && e.user === 'bob');
      assert.equal(event.code, 'GH3021W');
      assert.equal(event.reason, 'access_denied');
      assert.equal((event.details as { app: string }).app, 'admin');

      assert.equal((await fetch(`${gw}/auth/verify?allowed_groups=admins,ops`, { headers: { cookie } })).status, 403);
      assert.equal((await fetch(`${gw}/auth/verify?allowed_groups=ops,devs`, { headers: { cookie } })).status, 200);
      assert.equal((await fetch(`${gw}/auth/verify`, { headers: { cookie } })).status, 200);
      assert.equal((await fetch(`${gw}/auth/verify?app=nope`, { headers: { cookie } })).status, 404);
      assert.equal(
        (await fetch(`${gw}/auth/verify?app=wiki`, { headers: { cookie: 'gatehouse_session=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' } })).status,
        401,
      );
      assert.equal((await fetch(`${gw}/auth/verify?app=wiki`, { headers: { authorization: 'Bearer not.a.token' } })).status, 401);
    });
  });

  describe('bad input', () => {
    test('role missing: a clear 403 page naming the app, audited', async () => {
      const browser = new Browser({ accept: ACCEPT_HTML });
      const page = await openSignedIn(browser, `${gw}/apps/admin/`, bob);
      assert.equal(page.status, 403);
      assert.match(page.headers['content-type']!, /text\/html/);
      assert.match(page.body, /Access denied/);
      assert.match(page.body, /id="error-code">access_denied</);
      assert.match(page.body, /app &quot;admin&quot;/);
      assert.ok(!upstream.seen.some((r) => r.url.startsWith('/apps/admin/')), 'nothing reached the upstream');
      const event = await s.gw.waitForEvent((e) => e.type === 'access.denied' && (e.details as { app: string }).app === 'admin' && e.user === 'bob');
      assert.deepEqual(event.roles, ['dev']);
    });

    test('upstream refusing connections: 502 page naming the app, no stack trace; the outage and the recovery are audited', async () => {
      const browser = new Browser({ accept: ACCEPT_HTML });
      const page = await openSignedIn(browser, `${gw}/apps/down/`, alice);
      assert.equal(page.status, 502);
      assert.match(page.body, /id="error-code">app_unavailable</);
      assert.match(page.body, /The app &quot;down&quot; is not reachable/);
      assert.doesNotMatch(page.body, /ECONNREFUSED|at .*\(|Error:/);
      const api = await fetch(`${gw}/apps/down/x`, { headers: { cookie: `gatehouse_session=${browser.cookies('127.0.0.1').gatehouse_session}` } });
      assert.equal(api.status, 502);
      const body = (await api.json()) as { error: string; message: string };
      assert.equal(body.error, 'app_unavailable');
      assert.match(body.message, /"down"/);

      const outage = await s.gw.waitForEvent((e) => e.type === 'app.upstream' && e.outcome === 'failure' && (e.details as { app: string }).app === 'down');
      assert.equal(outage.code, 'GH6031W');
      assert.equal(outage.reason, 'app_unavailable');
      assert.equal(outage.user, 'alice');
      assert.match(String((outage.details as { error: string }).error), /ECONNREFUSED/);
      assert.equal(
        s.gw.auditEvents().filter((e) => e.type === 'app.upstream' && (e.details as { app: string }).app === 'down').length,
        1,
        'one event per outage, not per failed request',
      );

      // The app comes up on its port: the next request goes through and the recovery is audited.
      const server = createServer((_req, res) => res.end('back'));
      await new Promise<void>((resolve) => server.listen(down, '127.0.0.1', resolve));
      try {
        const back = await fetch(`${gw}/apps/down/x`, { headers: { cookie: `gatehouse_session=${browser.cookies('127.0.0.1').gatehouse_session}` } });
        assert.equal(back.status, 200);
        assert.equal(await back.text(), 'back');
        const recovered = await s.gw.waitForEvent((e) => e.type === 'app.upstream' && e.outcome === 'success' && (e.details as { app: string }).app === 'down');
        assert.equal(recovered.code, 'GH6030I');
        assert.equal((recovered.details as { failed_requests: number }).failed_requests, 2);
      } finally {
        server.closeAllConnections();
        await new Promise((resolve) => server.close(resolve));
      }
    });

    test('an upstream that does not answer within timeouts.response: 504 app_timeout naming the app', async () => {
      const browser = new Browser({ accept: ACCEPT_HTML });
      await openSignedIn(browser, `${gw}/apps/wiki/`, alice);
      const page = await browser.request(`${gw}/apps/slow/hang`);
      assert.equal(page.status, 504);
      assert.match(page.body, /id="error-code">app_timeout</);
      assert.match(page.body, /The app &quot;slow&quot; did not answer in time/);
      const outage = await s.gw.waitForEvent((e) => e.type === 'app.upstream' && e.outcome === 'failure' && (e.details as { app: string }).app === 'slow');
      assert.equal(outage.reason, 'app_timeout');
      assert.equal((await browser.request(`${gw}/apps/slow/fast`)).status, 200, 'the app works when it answers');
      await s.gw.waitForEvent((e) => e.type === 'app.upstream' && e.outcome === 'success' && (e.details as { app: string }).app === 'slow');
    });

    test('oversized headers on an app path: 431 request_too_large, audited', async () => {
      const res = await new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = httpRequest(`${gw}/apps/wiki/`, { headers: { 'x-big': 'a'.repeat(20_000) } }, (r) => {
          let body = '';
          r.setEncoding('utf8')
            .on('data', (c) => (body += c))
            .on('end', () => resolve({ status: r.statusCode!, body }));
        });
        req.on('error', reject);
        req.end();
      });
      assert.equal(res.status, 431);
      assert.equal(JSON.parse(res.body).error, 'request_too_large');
      await s.gw.waitForEvent((e) => e.type === 'http.rejected' && e.reason === 'request_too_large');
    });

    test('return_to to another host is refused; to an app host it is accepted', async () => {
      const evil = await fetch(`${gw}/login?return_to=${encodeURIComponent('http://evil.localhost:1/')}`);
      assert.equal(evil.status, 400);
      assert.equal(((await evil.json()) as { error: string }).error, 'return_to_rejected');
      const app = await fetch(`${gw}/login?return_to=${encodeURIComponent(`http://grafana.localhost:${new URL(gw).port}/d`)}`);
      assert.equal(app.status, 200);
      const host = `grafana.localhost:${new URL(gw).port}`;
      const browser = new Browser({ accept: ACCEPT_HTML });
      for (const rd of ['//evil.example/', 'https://evil.example/', '/\\evil.example']) {
        const page = await browser.request(`http://${host}/.gatehouse/start?rd=${encodeURIComponent(rd)}`);
        assert.equal(page.status, 400, rd);
        assert.match(page.body, /return_to_rejected/);
      }
    });

    test('unknown or tampered hand-off state is refused', async () => {
      const browser = new Browser({ accept: ACCEPT_HTML });
      await openSignedIn(browser, `${gw}/`, alice);
      const page = await browser.request(`${gw}/auth/app/authorize?app=grafana&state=${'A'.repeat(43)}`);
      assert.equal(page.status, 400);
      assert.match(page.body, /app_handoff_invalid/);
      assert.equal((await browser.request(`${gw}/auth/app/authorize?app=wiki&state=x`)).status, 404, 'path apps have no hand-off');
    });
  });
});

describe('HTTP apps: expired session', () => {
  test('a session past its absolute lifetime no longer reaches the app', async () => {
    const upstream = await startUpstream();
    const s = await startAppsGateway([{ name: 'wiki', upstream: upstream.url, path: '/apps/wiki/', trust_gateway_origin: true, roles: ['dev'] }], {
      server: { session: { absolute_ttl: '2s' } },
    });
    try {
      const browser = new Browser({ accept: ACCEPT_HTML });
      const page = await openSignedIn(browser, `${s.gw.url}/apps/wiki/`, bob);
      assert.equal(page.status, 200);
      const cookie = `gatehouse_session=${browser.cookies('127.0.0.1').gatehouse_session}`;
      await new Promise((r) => setTimeout(r, 2100));
      const expired = await fetch(`${s.gw.url}/apps/wiki/`, { headers: { cookie, accept: 'text/html' }, redirect: 'manual' });
      assert.equal(expired.status, 302);
      assert.equal(expired.headers.get('location'), `/login?return_to=${encodeURIComponent('/apps/wiki/')}`);
      const api = await fetch(`${s.gw.url}/apps/wiki/`, { headers: { cookie } });
      assert.equal(api.status, 401);
      assert.equal(((await api.json()) as { error: string }).error, 'unauthenticated');
      assert.equal((await fetch(`${s.gw.url}/auth/verify?app=wiki`, { headers: { cookie } })).status, 401);
    } finally {
      await s.stop();
      await upstream.close();
    }
  });
});
