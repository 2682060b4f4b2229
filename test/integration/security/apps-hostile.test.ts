// Hostile requests against the app proxy (attack review findings 4, 7, 8 and the smaller ones):
// each case asserts the status, the stable error code, the audit trail, and that nothing was
// forwarded. Identity comes from a gateway token (minted by the gateway's issuer).
import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { decodeJwt } from 'jose';
import { WebSocket } from 'ws';
import type { AuditEvent } from '../../../src/audit/sink.js';
import { startGateway, type TestGateway } from '../../helpers/gateways/gateway.js';
import { startUpstream, type Upstream } from '../../helpers/peers/upstream.js';
import { startWsgiUpstream, type WsgiUpstream } from '../../helpers/peers/wsgi-upstream.js';
import { ACCEPT_HTML, Browser } from '../../helpers/browsers/browser.js';
import { openSignedIn } from '../../helpers/browsers/sign-in.js';

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

function get(port: number, path: string, headers: Record<string, string>, method = 'GET'): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path, method, headers }, (res) => {
      let body = '';
      res
        .setEncoding('utf8')
        .on('data', (c: string) => (body += c))
        .on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
    });
    req.on('error', reject).end();
  });
}

/** A raw request line, for targets node:http's client will not send (absolute-form, `*`). */
function raw(port: number, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => socket.write(text));
    let out = '';
    socket.setEncoding('utf8').on('data', (c: string) => {
      out += c;
      if (/\r\n\r\n/.test(out) && /content-length: 0|\r\n\r\n[\s\S]*\}$/i.test(out)) socket.end();
    });
    socket
      .on('end', () => resolve(out))
      .on('close', () => resolve(out))
      .on('error', reject);
    socket.setTimeout(5000, () => socket.destroy());
  });
}

describe('hostile requests to apps', () => {
  let gw: TestGateway;
  let upstream: Upstream;
  let wsgi: WsgiUpstream | undefined;
  let port: number;
  let token: string;

  before(async () => {
    upstream = await startUpstream();
    wsgi = await startWsgiUpstream();
    gw = await startGateway({
      connectors: [
        { type: 'demo', id: 'demo', users: [{ username: 'alice', password: 'alice-hostile-pw', email: 'alice@example.com', groups: ['devs', 'a,b'] }] },
      ], // secret-scan: allow
      roles: [{ name: 'dev' }],
      mappings: [{ match: { claim: 'groups', value: 'devs' }, roles: ['dev'] }],
      apps: [
        { name: 'echo', upstream: upstream.url, public_host: 'echo.localhost', roles: ['dev'] },
        { name: 'legacy', upstream: upstream.url, path: '/apps/legacy/', trust_gateway_origin: true, roles: ['dev'] },
        ...(wsgi ? [{ name: 'wsgi', upstream: wsgi.url, public_host: 'wsgi.localhost', roles: ['dev'] }] : []),
      ],
    });
    port = Number(new URL(gw.url).port);
    token = await gw.gateway.issuer.mint({
      subject: 'demo:alice',
      audience: 'gatehouse',
      claims: { preferred_username: 'alice', groups: ['devs', 'a,b'], connector: 'demo' },
    });
  });
  after(async () => {
    await gw?.stop();
    await upstream?.close();
    await wsgi?.close();
  });

  const seenSince = (n: number) => upstream.seen.slice(n);
  /** Audit events written since `n` (an earlier `gw.auditEvents().length`), after a short settle: the sink writes asynchronously. */
  const eventsSince = async (n: number, settleMs = 200): Promise<AuditEvent[]> => {
    await new Promise((r) => setTimeout(r, settleMs));
    return gw.auditEvents().slice(n);
  };
  const ALICE = { username: 'alice', password: 'alice-hostile-pw' }; // secret-scan: allow

  test('finding 4: underscore headers never reach a WSGI app (X_Forwarded_User, Gatehouse_Jwt_Assertion, Gatehouse_Anything)', async (t) => {
    if (!wsgi) return t.skip('python3 is not installed');
    const res = await get(port, '/', {
      host: `wsgi.localhost:${port}`,
      authorization: `Bearer ${token}`,
      X_Forwarded_User: 'mallory',
      X_Forwarded_Groups: 'admins',
      Gatehouse_Jwt_Assertion: 'forged',
      X_Auth_Request_Email: 'mallory@example.com',
    });
    assert.equal(res.status, 200, res.body);
    const { environ } = JSON.parse(res.body) as { environ: Record<string, string> };
    assert.equal(environ.HTTP_X_FORWARDED_USER, 'alice', 'only the gateway value');
    assert.equal(environ.HTTP_X_FORWARDED_GROUPS, 'devs,a%2Cb', 'a comma inside a group name is percent-encoded');
    assert.notEqual(environ.HTTP_GATEHOUSE_JWT_ASSERTION, 'forged');
    assert.match(environ.HTTP_GATEHOUSE_JWT_ASSERTION, /^ey/);
    assert.equal(environ.HTTP_X_AUTH_REQUEST_EMAIL, undefined);
    assert.equal(environ.HTTP_AUTHORIZATION, undefined, 'the gateway token is not forwarded');
    assert.ok(!Object.values(environ).some((v) => /mallory|forged|admins/.test(v)), JSON.stringify(environ));
    // The forged headers changed nothing about who the gateway audits: alice, by her token.
    const start = await gw.waitForEvent((e) => e.type === 'app.session.start' && e.details?.app === 'wsgi');
    assert.equal(start.user, 'alice');
    assert.equal(start.outcome, 'success');
    assert.equal(start.details?.via, 'token');
  });

  test("finding 7: a gateway token never travels upstream; the app's own Authorization does", async () => {
    const n = upstream.seen.length;
    const ok = await get(port, '/x', { host: `echo.localhost:${port}`, authorization: `Bearer ${token}` });
    assert.equal(ok.status, 200);
    assert.equal(seenSince(n)[0].headers.authorization, undefined);
    const start = await gw.waitForEvent((e) => e.type === 'app.session.start' && e.details?.app === 'echo');
    assert.equal(start.user, 'alice');
    assert.equal(start.details?.via, 'token');
    const events = gw.auditEvents().length;
    // A Gatehouse token that does not verify (tampered) is still a Gatehouse credential: dropped, and it is not an identity.
    const [h, p] = token.split('.');
    const tampered = `Bearer ${h}.${p}.AAAA`;
    const refused = await get(port, '/x', { host: `echo.localhost:${port}`, authorization: tampered, accept: 'application/json' });
    assert.equal(refused.status, 401, 'no identity');
    assert.equal(JSON.parse(refused.body).error, 'unauthenticated');
    assert.equal(upstream.seen.length, n + 1, 'nothing forwarded');
    const afterTampered = await eventsSince(events);
    assert.ok(
      !afterTampered.some((e) => e.type === 'app.session.start' || e.type === 'access.denied'),
      `a forged token is no identity: ${JSON.stringify(afterTampered)}`,
    );
    const own = await get(port, '/own', { host: `echo.localhost:${port}`, authorization: `Bearer ${token}`, cookie: 'gatehouse_session=x; app=1' });
    assert.equal(own.status, 200);
    const seen = seenSince(n).at(-1)!;
    assert.equal(seen.headers.authorization, undefined);
    assert.equal(seen.headers.cookie, 'app=1', 'gateway cookies are stripped');
  });

  test("finding 8: X-Forwarded-Host is the configured public host, never the client's Host", async () => {
    const n = upstream.seen.length;
    const res = await get(port, '/apps/legacy/h', { host: 'evil.example', authorization: `Bearer ${token}` });
    assert.equal(res.status, 200, res.body);
    const seen = seenSince(n)[0];
    assert.equal(seen.headers['x-forwarded-host'], `127.0.0.1:${port}`);
    const start = await gw.waitForEvent((e) => e.type === 'app.session.start' && e.details?.app === 'legacy');
    assert.equal(start.user, 'alice');
    assert.equal(start.details?.via, 'token');
    const hostApp = await get(port, '/h', { host: `ECHO.localhost:${port}`, authorization: `Bearer ${token}` });
    assert.equal(hostApp.status, 200);
    assert.equal(seenSince(n)[1].headers['x-forwarded-host'], `echo.localhost:${port}`);
  });

  test('finding 8: absolute-form targets are reduced to origin-form and routed by their authority', async () => {
    const n = upstream.seen.length;
    const events = gw.auditEvents().length;
    // Host says echo, the target says evil: evil wins (RFC 9112), which is no app: nothing is forwarded.
    const evil = await raw(
      port,
      `GET http://evil.example/x HTTP/1.1\r\nHost: echo.localhost:${port}\r\nAuthorization: Bearer ${token}\r\nConnection: close\r\n\r\n`,
    );
    assert.doesNotMatch(evil, /^HTTP\/1\.1 200/);
    assert.equal(seenSince(n).length, 0, 'nothing reached the app');
    const own = await raw(
      port,
      `GET http://echo.localhost:${port}/y?z=1 HTTP/1.1\r\nHost: evil.example\r\nAuthorization: Bearer ${token}\r\nConnection: close\r\n\r\n`,
    );
    assert.match(own, /^HTTP\/1\.1 200/);
    assert.equal(seenSince(n)[0].url, '/y?z=1', 'origin-form upstream');
    const bad = await raw(port, `GET ftp://echo.localhost/x HTTP/1.1\r\nHost: echo.localhost:${port}\r\nAccept: application/json\r\nConnection: close\r\n\r\n`);
    assert.match(bad, /^HTTP\/1\.1 400/);
    assert.match(bad, /"error":"invalid_request_target"/);
    assert.equal(seenSince(n).length, 1);
    // No app event for the request aimed at evil.example (no such app) or the ftp: target; nothing reads as an outage.
    const written = await eventsSince(events);
    assert.ok(
      !written.some((e) => e.type === 'app.upstream' || e.type === 'access.denied' || (e.type.startsWith('app.') && e.details?.app !== 'echo')),
      JSON.stringify(written),
    );
  });

  test('finding 8: OPTIONS * is answered by the gateway, with no upstream request and no app.upstream event', async () => {
    const n = upstream.seen.length;
    const events = gw.auditEvents().length;
    const res = await raw(port, `OPTIONS * HTTP/1.1\r\nHost: echo.localhost:${port}\r\nAuthorization: Bearer ${token}\r\nConnection: close\r\n\r\n`);
    assert.match(res, /^HTTP\/1\.1 204/);
    const star = await raw(port, `GET * HTTP/1.1\r\nHost: echo.localhost:${port}\r\nAccept: application/json\r\nConnection: close\r\n\r\n`);
    assert.match(star, /^HTTP\/1\.1 400/);
    assert.match(star, /invalid_request_target/);
    assert.equal(seenSince(n).length, 0);
    const written = await eventsSince(events);
    assert.ok(!written.some((e) => e.type === 'app.upstream'), 'no false outage');
    assert.ok(
      !written.some((e) => e.type.startsWith('app.') || e.type === 'access.denied'),
      `answered before any app or identity step: ${JSON.stringify(written)}`,
    );
  });

  test('WebSocket Origin must match scheme, host and port', async () => {
    const n = upstream.seen.length;
    const events = gw.auditEvents().length;
    const attempt = (origin: string) =>
      new Promise<number>((resolve) => {
        const ws = new WebSocket(`ws://127.0.0.1:${port}/socket`, { headers: { host: `echo.localhost:${port}`, origin, authorization: `Bearer ${token}` } });
        ws.on('unexpected-response', (_req, res) => resolve(res.statusCode!));
        ws.on('open', () => {
          ws.close();
          resolve(101);
        });
        ws.on('error', () => resolve(0));
      });
    assert.equal(await attempt(`https://echo.localhost:${port}`), 403, 'other scheme');
    assert.equal(await attempt(`http://echo.localhost:${port + 1}`), 403, 'other port');
    assert.equal(await attempt(`http://evil.localhost:${port}`), 403, 'other host');
    assert.equal(await attempt('null'), 403, 'opaque origin (sandboxed page)');
    assert.equal(seenSince(n).length, 0, 'no handshake reached the app');
    // The refusals are answered before any identity or upstream step: no outage, no first use;
    // each is an access.denied naming the origin.
    await gw.waitForEvent((e) => e.type === 'access.denied' && e.details?.origin === 'null');
    const refused = await eventsSince(events);
    assert.ok(!refused.some((e) => e.type === 'app.upstream' || e.type === 'app.session.start'), JSON.stringify(refused));
    const denied = refused.filter((e) => e.type === 'access.denied' && e.reason === 'origin_rejected');
    assert.deepEqual(
      denied.map((e) => e.details?.origin),
      [`https://echo.localhost:${port}`, `http://echo.localhost:${port + 1}`, `http://evil.localhost:${port}`, 'null'],
    );
    assert.ok(denied.every((e) => e.details?.app === 'echo' && e.details?.via === 'app-websocket'));
    assert.equal(await attempt(`http://echo.localhost:${port}`), 101);
  });

  test('forward-auth: nosniff on JSON, and an empty allowed_groups refuses with 400', async () => {
    const anon = await get(port, '/auth/verify', {});
    assert.equal(anon.status, 401);
    assert.equal(anon.headers['x-content-type-options'], 'nosniff');
    const events = gw.auditEvents().length;
    for (const q of ['allowed_groups=', 'allowed_groups=,', 'allowed_groups=%20,%20', 'allowed_groups=&allowed_groups=,']) {
      const res = await get(port, `/auth/verify?${q}`, { authorization: `Bearer ${token}` });
      assert.equal(res.status, 400, q);
      assert.equal(JSON.parse(res.body).error, 'invalid_allowed_groups', q);
      assert.equal(res.headers['x-auth-request-user'], undefined, q);
      assert.equal(res.headers['x-content-type-options'], 'nosniff');
    }
    const member = await get(port, '/auth/verify?allowed_groups=,devs,', { authorization: `Bearer ${token}` });
    assert.equal(member.status, 200);
    assert.equal(member.headers['x-content-type-options'], 'nosniff');
    assert.equal(member.headers['x-auth-request-groups'], 'devs,a%2Cb');
    const split = await get(port, '/auth/verify?allowed_groups=b', { authorization: `Bearer ${token}` });
    assert.equal(split.status, 403, 'a group named "a,b" is not the group "b"');
    await gw.waitForEvent((e) => e.type === 'access.denied');
    assert.equal(
      gw
        .auditEvents()
        .slice(events)
        .filter((e) => e.type === 'app.session.start').length,
      0,
    );
  });

  test("a gateway token beside a session cookie: the cookie's identity wins whatever is cached, and neither reaches the app", { timeout: 90_000 }, async () => {
    // bob's token (a real gateway token, valid for the app) rides along with alice's cookie: a script
    // or a confused client sending both must never get bob's identity, in either cache order.
    const bobToken = () =>
      gw.gateway.issuer.mint({
        subject: 'demo:bob',
        audience: 'gatehouse',
        claims: { preferred_username: 'bob', email: 'bob@example.com', groups: ['devs'], connector: 'demo' },
      });
    const events = gw.auditEvents().length;
    const places = [
      {
        name: 'host app',
        url: `http://echo.localhost:${port}/`,
        host: `echo.localhost:${port}`,
        path: '/who',
        cookieHost: 'echo.localhost',
        cookieName: 'gatehouse_app_session',
      },
      {
        name: 'path app',
        url: `http://127.0.0.1:${port}/apps/legacy/`,
        host: `127.0.0.1:${port}`,
        path: '/apps/legacy/who',
        cookieHost: '127.0.0.1',
        cookieName: 'gatehouse_session',
      },
    ];
    for (const place of places) {
      for (const order of ['bearer first', 'cookie first'] as const) {
        const what = `${place.name}, ${order}`;
        // A fresh sign-in and a fresh token each time, so nothing about either is cached yet.
        const browser = new Browser({ accept: ACCEPT_HTML });
        const landed = await openSignedIn(browser, place.url, ALICE, { connector: 'demo' });
        assert.equal(landed.status, 200, `${what}: signed in and on the app\n${landed.body}`);
        const jar = browser.cookies(place.cookieHost);
        assert.ok(jar[place.cookieName], `${what}: ${place.cookieName} in ${JSON.stringify(jar)}`);
        const cookie = `${place.cookieName}=${jar[place.cookieName]}; app_pref=dark`;
        const bearer = `Bearer ${await bobToken()}`;
        const ask = async (headers: Record<string, string>) => {
          const n = upstream.seen.length;
          const res = await get(port, place.path, { host: place.host, accept: 'application/json', ...headers });
          assert.equal(res.status, 200, `${what}: ${res.body}`);
          const seen = seenSince(n);
          assert.equal(seen.length, 1, `${what}: one request upstream`);
          const h = seen[0].headers;
          assert.equal(h.authorization, undefined, `${what}: the gateway token never travels upstream`);
          assert.equal(h.cookie, headers.cookie ? 'app_pref=dark' : undefined, `${what}: only the app's own cookie travels upstream`);
          const user = h['x-forwarded-user'];
          assert.equal(decodeJwt(String(h['gatehouse-jwt-assertion'])).preferred_username, user, `${what}: the assertion names the same person`);
          return user;
        };
        const both = { cookie, authorization: bearer };
        if (order === 'bearer first') {
          // Let the sign-in's cached decision for the cookie lapse (at most 10 s), so the cookie is cold when it meets the warm token.
          await new Promise((r) => setTimeout(r, 10_500));
          assert.equal(await ask({ authorization: bearer }), 'bob', `${what}: the token alone is bob`);
          assert.equal(await ask({ authorization: bearer }), 'bob', `${what}: (cached)`);
          assert.equal(await ask(both), 'alice', `${what}: with the cookie, the cookie wins over the cached token`);
          assert.equal(await ask(both), 'alice', `${what}: (both cached)`);
          assert.equal(await ask({ authorization: bearer }), 'bob', `${what}: the token alone is still bob`);
        } else {
          assert.equal(await ask({ cookie }), 'alice', `${what}: the cookie alone is alice`);
          assert.equal(await ask(both), 'alice', `${what}: both, token not yet cached`);
          assert.equal(await ask({ authorization: bearer }), 'bob', `${what}: the token alone is bob`);
          assert.equal(await ask(both), 'alice', `${what}: both, token now cached`);
          assert.equal(await ask({ cookie }), 'alice', `${what}: the cookie alone`);
        }
      }
    }
    const written = await eventsSince(events);
    const starts = written.filter((e) => e.type === 'app.session.start' && e.outcome === 'success');
    // Four sign-ins (one per place and order) and four tokens: each first use is noted once per app.
    for (const app of ['echo', 'legacy']) {
      assert.equal(
        starts.filter((e) => e.details?.app === app && e.user === 'alice' && e.details?.via === 'session').length,
        2,
        `${app}: alice's two sessions`,
      );
      assert.equal(starts.filter((e) => e.details?.app === app && e.user === 'bob' && e.details?.via === 'token').length, 2, `${app}: bob's two tokens`);
    }
    assert.equal(written.filter((e) => e.type === 'access.denied').length, 0);
  });
});
