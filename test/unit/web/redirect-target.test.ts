import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { loginRedirect, redirectTarget } from '../../../src/core/redirect-target.js';

const policy = { base: 'https://gate.example.com', allowedHosts: ['*.apps.example.com', 'wiki.example.com'] };

/** Open-redirect attempts: each must be refused (return_to_rejected), whatever it normalises to. */
export const HOSTILE_TARGETS: unknown[] = [
  'https://evil.example',
  '//evil.example',
  '///evil.example',
  '/\\evil.example',
  '\\\\evil.example',
  '\\/evil.example',
  '/..//evil.example',
  '/.//evil.example',
  '/a/../..//evil.example',
  '/%2e%2e//evil.example',
  '/%2E%2E//evil.example',
  '/%2e//evil.example',
  '/.%2e//evil.example',
  '/%2e%2e%2f/evil.example',
  '/%252e%252e//evil.example',
  '/%2e%2e%2f%2fevil.example',
  '/%2f%2fevil.example',
  '/%5cevil.example',
  '/%5Cevil.example',
  '/%255cevil.example',
  '/\tevil.example',
  '/\t/evil.example',
  '/\n/evil.example',
  '/\r/evil.example',
  '/%09/evil.example',
  '/%0a/evil.example',
  '/%00/evil.example',
  '/\u007f/evil.example',
  '/ok\r\nLocation: https://evil.example',
  'https:evil.example',
  'https:/evil.example',
  'http:evil.example',
  'https:\\\\evil.example',
  'javascript:alert(1)',
  'JaVaScRiPt:alert(1)',
  'data:text/html,<script>alert(1)</script>',
  'evil.example',
  ' https://evil.example',
  'http://grafana.apps.example.com/',
  'https://apps.example.com.evil.example/',
  'https://x@evil.example/',
  'https://user:pw@wiki.example.com/',
  'https://gate.example.com@evil.example/',
  'https://evil.example#@gate.example.com',
  'https://evil.example\\@gate.example.com',
  'https://gate.example.com.evil.example/',
  'https://gate.example.com//x/../evil.example',
  'https://evil.example:443@gate.example.com',
  `/${'a'.repeat(3000)}`,
  ['array'],
  { href: '/' },
  42,
];

test('redirect targets: same-origin paths and allowed hosts, normalised', () => {
  assert.equal(redirectTarget(undefined, policy), '/');
  assert.equal(redirectTarget('', policy), '/');
  assert.equal(redirectTarget('/audit?x=1#y', policy), '/audit?x=1#y');
  assert.equal(redirectTarget('/a/./b/../c', policy), '/a/c');
  assert.equal(redirectTarget('/..', policy), '/');
  assert.equal(redirectTarget('https://gate.example.com/recordings', policy), 'https://gate.example.com/recordings');
  assert.equal(redirectTarget('https://grafana.apps.example.com/d/1', policy), 'https://grafana.apps.example.com/d/1');
  assert.equal(redirectTarget('https://WIKI.example.com', policy), 'https://wiki.example.com/');
  assert.equal(redirectTarget('http://app.localhost:8080/x', { base: 'http://127.0.0.1:8080', allowedHosts: ['*.localhost'] }), 'http://app.localhost:8080/x');
});

test(`redirect targets: ${HOSTILE_TARGETS.length} open-redirect attempts are refused`, () => {
  for (const bad of HOSTILE_TARGETS) {
    assert.throws(() => redirectTarget(bad, policy), { code: 'return_to_rejected', status: 400 }, JSON.stringify(bad));
  }
});

test('redirect targets: whatever is returned resolves to our origin or an allowed host', () => {
  // Property: for any value that is accepted, the browser ends up where we checked.
  const accepted = ['/x', '/x/../y', '/%2e/y', '/a%2fb', '/?next=//evil.example', '/#//evil.example'];
  for (const value of accepted) {
    const out = redirectTarget(value, policy);
    const url = new URL(out, policy.base);
    assert.equal(url.origin, 'https://gate.example.com', value);
    assert.ok(!out.startsWith('//'), `${value} → ${out}`);
    assert.equal(redirectTarget(out, policy), out, 'idempotent');
  }
});

test('loginRedirect checks the target it carries', () => {
  assert.equal(loginRedirect('/audit?x=1', policy), `/login?return_to=${encodeURIComponent('/audit?x=1')}`);
  assert.equal(loginRedirect('/', policy), '/login');
  assert.throws(() => loginRedirect('/..//evil.example', policy), { code: 'return_to_rejected' });
});

/**
 * Every place that redirects a browser to a target it was given goes through core/redirect-target.ts:
 * each file below imports it, and no file builds `return_to=` by hand or redirects to a raw request value.
 */
const SITES: Record<string, string[]> = {
  'src/web/routes/auth.ts': ['redirectTarget'], // GET /login, /login/:connector (return_to), logout
  'src/web/login-flow.ts': ['redirectTarget'], // OIDC callback, SAML ACS completion (stored return_to, IdP-initiated RelayState)
  'src/web/routes/saml.ts': ['unsolicitedReturnTo', 'redirectTarget'], // SAML RelayState, SLO response
  'src/proxy/http/handoff.ts': ['redirectTarget'], // host-app hand-off: raw request target, rd, callback
  'src/web/routes/oauth.ts': ['loginRedirect'], // device page
  'src/web/routes/pages.ts': ['loginRedirect'],
  'src/web/routes/audit.ts': ['loginRedirect'],
  'src/web/routes/recordings.ts': ['loginRedirect'],
  'src/web/routes/terminal.ts': ['loginRedirect'],
};

test(`redirect sites: ${Object.keys(SITES).length} files use the one redirect-target module`, () => {
  for (const [file, uses] of Object.entries(SITES)) {
    const source = readFileSync(new URL(`../../../${file}`, import.meta.url), 'utf8');
    assert.match(source, /core\/redirect-target\.js'/, `${file} imports core/redirect-target.ts`);
    for (const use of uses) assert.ok(source.includes(use), `${file} uses ${use}`);
  }
  const webRoutes = [
    'src/web/routes/auth.ts',
    'src/web/routes/pages.ts',
    'src/web/routes/audit.ts',
    'src/web/routes/recordings.ts',
    'src/web/routes/terminal.ts',
  ];
  for (const file of webRoutes) {
    const source = readFileSync(new URL(`../../../${file}`, import.meta.url), 'utf8');
    assert.doesNotMatch(source, /return_to=\$\{encodeURIComponent\(req\./, `${file} builds a login redirect by hand`);
  }
});
