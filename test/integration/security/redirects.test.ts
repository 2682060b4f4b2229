/**
 * Open redirects, as a class: every place that redirects a browser to a target it was given
 * (login return_to, the login completion, the host-app hand-off's request target and `rd`,
 * logout, the device page, SAML RelayState) goes through src/core/redirect-target.ts. Each hostile
 * target is refused with 400 return_to_rejected, audited, and nothing is stored or issued
 * (no login state cookie, no hand-off state cookie, no redirect anywhere).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { AuditEvent } from '../../../src/audit/sink.js';
import { alice, startAppsGateway, type AppsSetup } from '../../helpers/gateways/apps.js';
import { ACCEPT_HTML, Browser } from '../../helpers/browsers/browser.js';
import { startGateway, type TestGateway } from '../../helpers/gateways/gateway.js';
import { postToAcs } from '../../helpers/browsers/saml-flow.js';
import { createTestSamlIdp, type TestSamlIdp } from '../../helpers/peers/saml-idp.js';
import { requireBinary } from '../../helpers/peers/services.js';
import { startUpstream, type Upstream } from '../../helpers/peers/upstream.js';
import { openSignedIn } from '../../helpers/browsers/sign-in.js';

/** return_to values that passed the old check (or that browsers read as another host). */
const HOSTILE_RETURN_TO = [
  'https://evil.example/',
  '//evil.example',
  '/..//evil.example',
  '/.//evil.example',
  '/a/../..//evil.example',
  '/%2e%2e//evil.example',
  '/%2E%2E//evil.example',
  '/%2e//evil.example',
  '/%2e%2e%2f/evil.example',
  '/%5cevil.example',
  '/\\evil.example',
  '/\t/evil.example',
  '/\n/evil.example',
  '/\r\n/evil.example',
  '/%09/evil.example',
  'https:evil.example',
  'http:evil.example',
  'javascript:alert(1)',
  'https://x@evil.example/',
  'http://grafana.localhost.evil.example/',
];

/** Raw request targets on a host app's host (sent as the request line's path). */
const HOSTILE_APP_TARGETS = [
  '//evil.example/x',
  '///evil.example/x',
  '/\\evil.example',
  '/..//evil.example',
  '/.//evil.example',
  '/%2e%2e//evil.example',
  '/%2e//evil.example',
  '/%5cevil.example',
  '/%2f%2fevil.example',
];

/** `rd` values for `/.gatehouse/start`. */
const HOSTILE_RD = [
  '//evil.example/',
  'https://evil.example/',
  '/\\evil.example',
  '/..//evil.example',
  '/.//evil.example',
  '/%2e%2e//evil.example',
  '/%5cevil.example',
  '/\t/evil.example',
  'https:evil.example',
  '/%2e%2e%2f/evil.example',
];

interface RawResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

/** One request with the exact request target given (fetch would normalise it). */
function rawRequest(port: number, host: string, path: string): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path, headers: { host, accept: 'text/html' }, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

const setCookieNames = (headers: IncomingHttpHeaders | Headers): string[] => {
  const list = headers instanceof Headers ? headers.getSetCookie() : (headers['set-cookie'] ?? []);
  return list.map((c) => c.split('=')[0]);
};

describe('redirect targets: login, device page, host-app hand-off', () => {
  let s: AppsSetup;
  let upstream: Upstream;
  let port: number;
  let appHost: string;
  before(async () => {
    upstream = await startUpstream();
    s = await startAppsGateway([{ name: 'grafana', upstream: upstream.url, public_host: 'grafana.localhost', roles: ['dev'] }]);
    port = Number(new URL(s.gw.url).port);
    appHost = `grafana.localhost:${port}`;
  });
  after(async () => {
    await s.stop();
    await upstream.close();
  });

  const loginFailure = (requestId: string) => s.gw.waitForEvent((e) => e.type === 'user.login' && e.request_id === requestId);

  test(`/login/:connector: ${HOSTILE_RETURN_TO.length} hostile return_to → 400 return_to_rejected, audited, no login started`, async () => {
    for (const returnTo of HOSTILE_RETURN_TO) {
      const res = await fetch(`${s.gw.url}/login/corp?return_to=${encodeURIComponent(returnTo)}`, {
        redirect: 'manual',
        headers: { accept: 'application/json' },
      });
      const body = (await res.json()) as { error: string; request_id: string };
      assert.equal(res.status, 400, JSON.stringify(returnTo));
      assert.equal(body.error, 'return_to_rejected');
      assert.equal(res.headers.get('location'), null, 'no redirect anywhere');
      assert.deepEqual(
        setCookieNames(res.headers).filter((n) => n.includes('gatehouse_login_')),
        [],
        'no login state',
      );
      const event = await loginFailure(body.request_id);
      assert.equal(event.outcome, 'failure');
      assert.equal(event.reason, 'return_to_rejected');
      assert.equal(event.connector, 'corp');
    }
  });

  test(`/login (chooser): ${HOSTILE_RETURN_TO.length} hostile return_to → 400 return_to_rejected, audited`, async () => {
    for (const returnTo of HOSTILE_RETURN_TO) {
      const res = await fetch(`${s.gw.url}/login?return_to=${encodeURIComponent(returnTo)}&connector=corp`, {
        redirect: 'manual',
        headers: { accept: 'application/json' },
      });
      const body = (await res.json()) as { error: string; request_id: string };
      assert.equal(res.status, 400, JSON.stringify(returnTo));
      assert.equal(body.error, 'return_to_rejected');
      assert.equal(res.headers.get('location'), null);
      const event = await loginFailure(body.request_id);
      assert.equal(event.reason, 'return_to_rejected');
      assert.equal(event.connector, undefined);
    }
  });

  test('the value redirected to after login is the normalised one', async () => {
    const res = await fetch(`${s.gw.url}/login?return_to=${encodeURIComponent('/a/./b/../audit?x=1')}&connector=corp`, { redirect: 'manual' });
    assert.equal(res.status, 302);
    assert.equal(res.headers.get('location'), `/login/corp?return_to=${encodeURIComponent('/a/audit?x=1')}`);
  });

  test('the device page and other pages send the browser to /login with a checked return_to', async () => {
    for (const path of ['/device?user_code=ABCD-EFGH', '/audit?user=alice', '/recordings', '/']) {
      const res = await fetch(`${s.gw.url}${path}`, { redirect: 'manual' });
      assert.equal(res.status, 302, path);
      const location = new URL(res.headers.get('location')!, s.gw.url);
      assert.equal(location.origin + location.pathname, `${s.gw.url}/login`);
      assert.equal(location.searchParams.get('return_to') ?? '/', path);
    }
  });

  test(`host-app hand-off: ${HOSTILE_APP_TARGETS.length} hostile raw request targets → 400 return_to_rejected, audited, no state stored`, async () => {
    for (const target of HOSTILE_APP_TARGETS) {
      const res = await rawRequest(port, appHost, target);
      assert.equal(res.status, 400, `${target}: ${res.body}`);
      assert.match(res.body, /return_to_rejected/);
      assert.equal(res.headers.location, undefined, 'no redirect');
      assert.deepEqual(setCookieNames(res.headers), [], 'no hand-off state cookie');
      const requestId = String(res.headers['x-request-id']);
      const event: AuditEvent = await s.gw.waitForEvent((e) => e.type === 'app.session.start' && e.request_id === requestId);
      assert.equal(event.reason, 'return_to_rejected');
      assert.equal(event.outcome, 'failure');
      assert.equal(event.details?.app, 'grafana');
    }
    assert.ok(!upstream.seen.some((r) => r.url.includes('evil')), 'nothing reached the app');
  });

  test(`host-app hand-off: ${HOSTILE_RD.length} hostile rd → 400 return_to_rejected, audited, no state stored`, async () => {
    const browser = new Browser({ accept: ACCEPT_HTML });
    for (const rd of HOSTILE_RD) {
      const page = await browser.request(`http://${appHost}/.gatehouse/start?rd=${encodeURIComponent(rd)}`);
      assert.equal(page.status, 400, rd);
      assert.match(page.body, /return_to_rejected/);
      assert.equal(page.location, undefined);
      assert.deepEqual(setCookieNames(page.headers), []);
      const requestId = String(page.headers['x-request-id']);
      const event = await s.gw.waitForEvent((e) => e.type === 'app.session.start' && e.request_id === requestId);
      assert.equal(event.reason, 'return_to_rejected');
      assert.equal(event.outcome, 'failure');
    }
  });

  test('host-app hand-off: a normal path still signs in and lands on the normalised path on the app host', async () => {
    const browser = new Browser({ accept: ACCEPT_HTML });
    const page = await openSignedIn(browser, `http://${appHost}/d/./x/../home?orgId=1`, alice);
    assert.equal(page.status, 200, page.body);
    assert.equal(page.url, `http://${appHost}/d/home?orgId=1`);
  });
});

describe('redirect targets: SAML RelayState (IdP-initiated)', () => {
  let gw: TestGateway;
  let idp: TestSamlIdp;
  let dir: string;
  let skip = false;
  before(async (t) => {
    if (!requireBinary(t as never, 'xmllint')) return void (skip = true);
    dir = mkdtempSync(join(tmpdir(), 'gatehouse-redirects-'));
    idp = createTestSamlIdp();
    writeFileSync(join(dir, 'idp.xml'), idp.metadata());
    gw = await startGateway({
      connectors: [
        {
          id: 'unsolicited',
          type: 'saml',
          name: 'SAML',
          idp_metadata_file: join(dir, 'idp.xml'),
          allow_idp_initiated: true,
          attributes: { username: 'uid', email: 'mail', groups: 'groups' },
        },
      ],
    });
  });
  after(async () => {
    if (skip) return;
    await gw.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const RELAY_STATES = ['//evil.example/', '/..//evil.example', '/%2e%2e//evil.example', '/\\evil.example', 'https://evil.example/', 'https:evil.example'];
  test(`${RELAY_STATES.length} hostile RelayStates land on / (the checked fallback), never on another host`, async (t) => {
    if (skip) return t.skip('xmllint missing');
    const spMetadata = await (await fetch(`${gw.url}/saml/unsolicited/metadata`)).text();
    for (const relayState of RELAY_STATES) {
      const browser = new Browser();
      const { encoded } = await idp.response({
        spMetadata,
        attributes: [
          ['uid', 'alice'],
          ['mail', 'alice@example.com'],
          ['groups', ['devs']],
        ],
      });
      const { complete } = await postToAcs(browser, `${gw.url}/saml/unsolicited/acs`, { SAMLResponse: encoded, RelayState: relayState });
      assert.equal(complete?.status, 302, complete?.body);
      assert.equal(complete?.location, `${gw.url}/`, relayState);
    }
    const browser = new Browser();
    const { encoded } = await idp.response({
      spMetadata,
      attributes: [
        ['uid', 'alice'],
        ['mail', 'alice@example.com'],
        ['groups', ['devs']],
      ],
    });
    const { complete } = await postToAcs(browser, `${gw.url}/saml/unsolicited/acs`, { SAMLResponse: encoded, RelayState: '/api/v1/whoami' });
    assert.equal(complete?.location, `${gw.url}/api/v1/whoami`, 'a same-origin RelayState is honoured');
  });
});
