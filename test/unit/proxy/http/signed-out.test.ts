import assert from 'node:assert/strict';
import type { IncomingHttpHeaders } from 'node:http';
import { describe, test } from 'node:test';
import { parseConfig } from '../../../../src/config/load.js';
import { createAppRegistry } from '../../../../src/proxy/http/apps.js';
import { signedOutRedirect } from '../../../../src/proxy/http/signed-out.js';

const PUBLIC_URL = 'https://gatehouse.example.com';
const registry = createAppRegistry(
  parseConfig({
    server: { public_url: PUBLIC_URL },
    connectors: [{ type: 'demo' }],
    apps: [
      { name: 'docs', public_host: 'docs.example.com' },
      { name: 'wiki', public_host: 'wiki.example.com' },
      { name: 'local', public_host: 'local.localhost' },
    ],
  }),
);
const docs = registry.byName.get('docs')!;

/** What Caddy's forward_auth (and Traefik's forwardAuth) send for a browser navigating to `url`. */
const navigation = (url: string, extra: IncomingHttpHeaders = {}): IncomingHttpHeaders => {
  const u = new URL(url);
  return {
    accept: 'text/html,application/xhtml+xml',
    'x-forwarded-method': 'GET',
    'x-forwarded-proto': u.protocol.slice(0, -1),
    'x-forwarded-host': u.host,
    'x-forwarded-uri': u.pathname + u.search,
    ...extra,
  };
};

describe('forward-auth signed_out=redirect: where a signed-out browser goes', () => {
  test("on the app's host: that host's app-cookie hand-off, with the path and query asked for", () => {
    assert.equal(
      signedOutRedirect(navigation('https://docs.example.com/page?a=1&b=2'), PUBLIC_URL, docs),
      `https://docs.example.com/.gatehouse/start?rd=${encodeURIComponent('/page?a=1&b=2')}`,
    );
    // The port the browser used is kept; dot segments are normalised by the validator.
    assert.equal(
      signedOutRedirect(navigation('https://docs.example.com:8443/a/./b/../c'), PUBLIC_URL, docs),
      `https://docs.example.com:8443/.gatehouse/start?rd=${encodeURIComponent('/a/c')}`,
    );
    // http only on loopback hosts, as for every redirect target.
    const local = registry.byName.get('local')!;
    assert.equal(signedOutRedirect(navigation('http://local.localhost:8080/x'), PUBLIC_URL, local), 'http://local.localhost:8080/.gatehouse/start?rd=%2Fx');
  });

  test("on the gateway's own origin: the gateway's sign-in with return_to", () => {
    assert.equal(
      signedOutRedirect(navigation('https://gatehouse.example.com/tools/x?y=1'), PUBLIC_URL, undefined),
      `${PUBLIC_URL}/login?return_to=%2Ftools%2Fx%3Fy%3D1`,
    );
    assert.equal(signedOutRedirect(navigation('https://gatehouse.example.com/tools/'), PUBLIC_URL, docs), `${PUBLIC_URL}/login?return_to=%2Ftools%2F`);
  });

  test('not a browser navigation, or the proxy did not say where: undefined (answer 401)', () => {
    const url = 'https://docs.example.com/page';
    assert.equal(signedOutRedirect(navigation(url, { accept: 'application/json' }), PUBLIC_URL, docs), undefined);
    assert.equal(signedOutRedirect(navigation(url, { 'x-forwarded-method': 'POST' }), PUBLIC_URL, docs), undefined);
    for (const missing of ['x-forwarded-proto', 'x-forwarded-host', 'x-forwarded-uri']) {
      const headers = navigation(url);
      delete headers[missing];
      assert.equal(signedOutRedirect(headers, PUBLIC_URL, docs), undefined, missing);
    }
    // No X-Forwarded-Method: the auth request's own method (GET) is what the browser did.
    const noMethod = navigation(url);
    delete noMethod['x-forwarded-method'];
    assert.match(signedOutRedirect(noMethod, PUBLIC_URL, docs)!, /\/\.gatehouse\/start\?rd=/);
  });

  const hostile: [string, IncomingHttpHeaders][] = [
    ['a host that is no app', { 'x-forwarded-host': 'evil.example' }],
    ['another app than ?app=', { 'x-forwarded-host': 'wiki.example.com' }],
    ['a look-alike host', { 'x-forwarded-host': 'docs.example.com.evil.example' }],
    ['userinfo in the host', { 'x-forwarded-host': 'docs.example.com@evil.example' }],
    ['a path in the host', { 'x-forwarded-host': 'evil.example/docs.example.com' }],
    ['a list of hosts', { 'x-forwarded-host': 'docs.example.com, evil.example' }],
    ['http on a public host', { 'x-forwarded-proto': 'http' }],
    ['another scheme', { 'x-forwarded-proto': 'javascript' }],
    ['a scheme-relative uri', { 'x-forwarded-uri': '//evil.example/' }],
    ['dot segments to //', { 'x-forwarded-uri': '/..//evil.example' }],
    ['encoded dot segments', { 'x-forwarded-uri': '/%2e%2e%2f/evil.example' }],
    ['a backslash', { 'x-forwarded-uri': '/\\evil.example' }],
    ['a uri that is not a path', { 'x-forwarded-uri': 'https://evil.example/' }],
  ];
  for (const [why, headers] of hostile) {
    test(`refused with return_to_rejected: ${why}`, () => {
      assert.throws(() => signedOutRedirect(navigation('https://docs.example.com/page', headers), PUBLIC_URL, docs), {
        code: 'return_to_rejected',
        status: 400,
      });
    });
  }

  test('without ?app=, only the gateway origin is a target: an app host is refused (the app cookie would never be read)', () => {
    assert.throws(() => signedOutRedirect(navigation('https://docs.example.com/page'), PUBLIC_URL, undefined), { code: 'return_to_rejected' });
  });
});
