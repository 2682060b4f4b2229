/**
 * Web hardening from the attack review: logout CSRF, labels only from configured ids (audit and
 * metrics), refused bearer tokens audited without flooding, CSRF failures audited, and
 * `Cache-Control: no-store` on every page and API answer.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Browser, formAction, hiddenInputs } from '../../helpers/browsers/browser.js';
import { alice, startSso, type SsoSetup } from '../../helpers/gateways/sso.js';
import { logIn } from '../../helpers/browsers/sign-in.js';

const tokenDir = mkdtempSync(join(tmpdir(), 'gatehouse-hardening-'));
const METRICS_TOKEN = randomBytes(24).toString('base64url');
writeFileSync(join(tokenDir, 'token'), METRICS_TOKEN, { mode: 0o600 });

describe('web hardening', () => {
  let s: SsoSetup;
  before(async () => {
    s = await startSso({ server: { metrics_bearer_token_file: join(tokenDir, 'token') } });
  });
  after(async () => {
    await s.stop();
    rmSync(tokenDir, { recursive: true, force: true });
  });

  const signedIn = async () => {
    const browser = new Browser();
    await logIn(browser, s.gw, 'Corp SSO', alice);
    return browser;
  };
  const whoamiStatus = async (browser: Browser) => (await browser.request(`${s.gw.url}/api/v1/whoami`)).status;
  const eventFor = (requestId: string | null | undefined, type: string) => s.gw.waitForEvent((e) => e.type === type && e.request_id === requestId);
  const scrape = async () => (await fetch(`${s.gw.url}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } })).text();
  const seriesOf = (text: string, name: string) =>
    text
      .split('\n')
      .filter((l) => l.startsWith(`${name}{`))
      .map((l) => l.slice(0, l.lastIndexOf(' ')));

  describe('logout CSRF', () => {
    test('GET /logout (a cross-site link or image) only shows a confirmation; the session stays', async () => {
      const browser = await signedIn();
      const page = await browser.request(`${s.gw.url}/logout`);
      assert.equal(page.status, 200);
      assert.match(page.body, /<form method="post" action="\/logout"/);
      assert.equal(page.responseHeaders?.get('cache-control'), 'no-store');
      const crossSite = await fetch(`${s.gw.url}/logout`, {
        redirect: 'manual',
        headers: { cookie: `gatehouse_session=${browser.cookie('gatehouse_session')}`, 'sec-fetch-site': 'cross-site' },
      });
      assert.equal(crossSite.status, 200);
      assert.equal(await whoamiStatus(browser), 200);
      assert.ok(!s.gw.auditEvents().some((e) => e.type === 'user.logout' && e.outcome === 'success' && e.user === 'alice'), 'no logout audited');
    });

    // Hostile POSTs: no token, a wrong token, a token with a foreign Origin, cross-site fetch metadata.
    const HOSTILE_POSTS: { name: string; form?: (csrf: string) => Record<string, string>; headers?: Record<string, string> }[] = [
      { name: 'no body' },
      { name: 'no token', form: () => ({ other: 'x' }) },
      { name: 'empty token', form: () => ({ csrf: '' }) },
      { name: 'wrong token', form: (csrf) => ({ csrf: `${csrf.slice(0, -2)}AA` }) },
      { name: 'another session’s token shape', form: () => ({ csrf: 'A'.repeat(43) }) },
      { name: 'valid token, foreign Origin', form: (csrf) => ({ csrf }), headers: { origin: 'https://evil.example' } },
      { name: 'no token, cross-site fetch', headers: { 'sec-fetch-site': 'cross-site', origin: 'https://evil.example' } },
      { name: 'no token, same-site (sibling subdomain)', headers: { 'sec-fetch-site': 'same-site' } },
      { name: 'same-origin fetch metadata with a foreign Origin', headers: { 'sec-fetch-site': 'same-origin', origin: 'https://evil.example' } },
    ];
    test(`POST /logout: ${HOSTILE_POSTS.length} forged submissions → 403 csrf_failed, audited, session intact`, async () => {
      const browser = await signedIn();
      const csrf = hiddenInputs((await browser.request(`${s.gw.url}/logout`)).body).csrf;
      assert.ok(csrf);
      const cookie = `gatehouse_session=${browser.cookie('gatehouse_session')}`;
      for (const c of HOSTILE_POSTS) {
        const body = c.form ? new URLSearchParams(c.form(csrf)).toString() : undefined;
        const res = await fetch(`${s.gw.url}/logout`, {
          method: 'POST',
          redirect: 'manual',
          headers: { cookie, accept: 'application/json', ...(body ? { 'content-type': 'application/x-www-form-urlencoded' } : {}), ...c.headers },
          body,
        });
        assert.equal(res.status, 403, c.name);
        const json = (await res.json()) as { error: string };
        assert.equal(json.error, 'csrf_failed', c.name);
        assert.equal(res.headers.get('location'), null);
        assert.ok(!res.headers.getSetCookie().some((h) => h.startsWith('gatehouse_session=')), `${c.name}: the session cookie is not cleared`);
        const event = await eventFor(res.headers.get('x-request-id'), 'auth.csrf_rejected');
        assert.equal(event.outcome, 'failure');
        assert.equal(event.reason, 'csrf_failed');
        assert.equal(event.user, 'alice');
        assert.equal(event.details?.path, '/logout');
        assert.equal(await whoamiStatus(browser), 200, `${c.name}: the session is intact`);
      }
      assert.ok(!s.gw.auditEvents().some((e) => e.type === 'user.logout' && e.outcome === 'success' && e.user === 'alice'));
    });

    test('the confirmation form (with its token) signs out; a same-origin fetch does too', async () => {
      const browser = await signedIn();
      const page = await browser.request(`${s.gw.url}/logout`);
      const out = await browser.request(new URL(formAction(page.body, 'logout')!, s.gw.url).href, { form: hiddenInputs(page.body) });
      assert.equal(out.status, 302);
      assert.equal(await whoamiStatus(browser), 401);
      const other = await signedIn();
      const res = await fetch(`${s.gw.url}/logout`, {
        method: 'POST',
        redirect: 'manual',
        headers: { cookie: `gatehouse_session=${other.cookie('gatehouse_session')}`, 'sec-fetch-site': 'same-origin', origin: 'null' },
      });
      assert.equal(res.status, 302);
      assert.equal(await whoamiStatus(other), 401);
    });
  });

  test('CSRF failures on other forms (device approval) are audited too, and change nothing', async () => {
    const browser = await signedIn();
    const cookie = `gatehouse_session=${browser.cookie('gatehouse_session')}`;
    for (const path of ['/device', '/device/decide']) {
      const res = await fetch(`${s.gw.url}${path}`, {
        method: 'POST',
        headers: { cookie, accept: 'application/json', 'content-type': 'application/x-www-form-urlencoded', origin: 'https://evil.example' },
        body: 'user_code=ABCDEFGH&decision=approve',
      });
      assert.equal(res.status, 403, path);
      assert.equal(((await res.json()) as { error: string }).error, 'csrf_failed');
      const event = await eventFor(res.headers.get('x-request-id'), 'auth.csrf_rejected');
      assert.equal(event.details?.path, path);
      assert.equal(event.details?.why, 'foreign_origin');
    }
    assert.ok(!s.gw.auditEvents().some((e) => e.type === 'device.authorized'), 'no device decision was recorded');
  });

  describe('labels come only from configured ids', () => {
    const INVENTED = ['nope', 'evil-connector', 'a'.repeat(63), `x${'y'.repeat(300)}`, 'corp2', 'CORP', '%3Cscript%3E', 'corp%00', '...', '..%2f..%2fetc'];
    test(`${INVENTED.length} invented connectors → 404 unknown_connector, audited without a connector, no new metric series`, async () => {
      const before = await scrape();
      for (const id of INVENTED) {
        for (const path of [`/login/${id}`, `/callback/${id}?state=x&code=y`]) {
          const res = await fetch(`${s.gw.url}${path}`, { redirect: 'manual', headers: { accept: 'application/json' } });
          const body = (await res.json()) as { error: string; request_id: string };
          assert.equal(res.status, 404, path);
          assert.equal(body.error, 'unknown_connector', path);
          const event = await eventFor(body.request_id, 'user.login');
          assert.equal(event.connector, undefined, path);
          assert.equal(event.reason, 'unknown_connector');
          assert.ok(String(event.details?.requested_connector ?? '').length <= 64, path);
        }
      }
      // An oversized request on an invented login path (refused by the parser) is labelled the same way.
      const raw = await new Promise<string>((resolve, reject) => {
        const socket = connect(Number(new URL(s.gw.url).port), '127.0.0.1', () =>
          socket.write(`GET /login/invented-by-parser?x=${'a'.repeat(20_000)} HTTP/1.1\r\nhost: x\r\n\r\n`),
        );
        let got = '';
        socket.on('data', (c) => (got += c));
        socket.on('close', () => resolve(got));
        socket.on('error', reject);
        setTimeout(() => socket.end(), 500).unref();
      });
      assert.match(raw, /^HTTP\/1\.1 431/);
      const parsed = await s.gw.waitForEvent((e) => e.type === 'user.login' && e.reason === 'request_too_large');
      assert.equal(parsed.connector, undefined);
      assert.equal(parsed.details?.requested_connector, 'invented-by-parser');

      const after = await scrape();
      for (const name of ['gatehouse_logins_total', 'gatehouse_audit_events_total']) {
        const added = seriesOf(after, name).filter((l) => !seriesOf(before, name).includes(l));
        assert.ok(
          added.every((l) => /connector="(unknown|corp)"/.test(l) || !l.includes('connector=')),
          `${name}: ${added.join(', ')}`,
        );
      }
      for (const id of INVENTED) assert.ok(!after.includes(`connector="${id}"`), id);
      assert.ok(!after.includes('invented-by-parser'));
    });
  });

  describe('refused bearer tokens', () => {
    const GARBAGE = ['garbage', 'eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.', 'a.b.c', `${'x'.repeat(100)}.${'y'.repeat(100)}.z`];
    test(`${GARBAGE.length + 2} bad Authorization headers → 401 with a code, audited once per address and reason`, async () => {
      const before = s.gw.auditEvents().filter((e) => e.type === 'auth.token_rejected').length;
      const statuses: string[] = [];
      for (const token of GARBAGE) {
        const res = await fetch(`${s.gw.url}/api/v1/whoami`, { headers: { authorization: `Bearer ${token}` } });
        assert.equal(res.status, 401, token);
        assert.equal(((await res.json()) as { error: string }).error, 'invalid_token');
        assert.equal(res.headers.get('cache-control'), 'no-store');
        statuses.push(String(res.status));
      }
      for (const header of ['Basic dXNlcjpwYXNz', 'Bearer']) {
        const res = await fetch(`${s.gw.url}/api/v1/kube/clusters`, { headers: { authorization: header } });
        assert.equal(res.status, 401, header);
        assert.equal(((await res.json()) as { error: string }).error, 'invalid_token');
      }
      const event = await s.gw.waitForEvent((e) => e.type === 'auth.token_rejected');
      assert.equal(event.outcome, 'failure');
      assert.equal(event.code, 'GH9011W');
      assert.equal(event.reason, 'invalid_token');
      assert.ok(event.details?.error, 'why the token failed');
      assert.ok(event.remote_addr);
      // Many more from the same address within the minute: still one event (no flood).
      await Promise.all(
        Array.from({ length: 50 }, () => fetch(`${s.gw.url}/api/v1/whoami`, { headers: { authorization: 'Bearer garbage' } }).then((r) => r.body?.cancel())),
      );
      await new Promise((r) => setTimeout(r, 200));
      const now = s.gw.auditEvents().filter((e) => e.type === 'auth.token_rejected').length;
      assert.equal(now - before, 1, 'deduplicated per address and reason');
    });
  });

  describe('Cache-Control: no-store', () => {
    test('every authenticated page and API answer (token claims, device page, errors) is no-store', async () => {
      const browser = await signedIn();
      for (const path of [
        '/',
        '/api/v1/whoami',
        '/api/v1/kube/clusters',
        '/device',
        '/device?user_code=ABCD-EFGH',
        '/audit',
        '/api/v1/audit/events',
        '/logout',
        '/recordings',
        '/nope',
      ]) {
        const page = await browser.request(`${s.gw.url}${path}`);
        assert.equal(page.responseHeaders?.get('cache-control'), 'no-store', `${path} (${page.status})`);
      }
      const home = await browser.request(`${s.gw.url}/`);
      assert.match(home.body, /My access/, 'the page holding token claims');
      // Unauthenticated answers too (they may set cookies or carry state).
      for (const path of ['/login', '/login/corp', '/api/v1/whoami']) {
        const res = await fetch(`${s.gw.url}${path}`, { redirect: 'manual' });
        assert.equal(res.headers.get('cache-control'), 'no-store', path);
      }
      assert.match((await fetch(`${s.gw.url}/static/gatehouse.css`)).headers.get('cache-control') ?? '', /public/, 'static assets opt out');
    });
  });
});
