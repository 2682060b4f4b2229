// Header mechanisms behind the attack review's findings 1, 4, 7 and the group-list encoding.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseConfig } from '../../../../src/config/load.js';
import { createAppRegistry, SANDBOX_CSP } from '../../../../src/proxy/http/apps.js';
import { downstreamResponseHeaders, isGatewayAuthorization, listItem, upstreamRequestHeaders } from '../../../../src/proxy/http/headers.js';

const base = {
  identity: [['x-forwarded-user', 'alice']] as [string, string][],
  configured: new Set<string>(),
  host: 'up:3000',
  forwardedFor: '10.0.0.1',
  forwardedHost: 'app.example.com',
  forwardedProto: 'https',
};
const jwt = (payload: object) => `eyJhbGciOiJFUzI1NiJ9.${Buffer.from(JSON.stringify(payload)).toString('base64url')}.c2ln`;

describe('hostile request headers', () => {
  test('every header whose name contains "_" is dropped, whatever it spells', () => {
    const hostile = ['x_forwarded_user', 'gatehouse_jwt_assertion', 'x_auth_request_email', 'x-forwarded_groups', 'x_real_ip', 'x_webauth_user', 'some_header'];
    const out = upstreamRequestHeaders(Object.fromEntries(hostile.map((h) => [h, 'mallory'])), base);
    for (const h of hostile) assert.equal(out[h], undefined, h);
    assert.equal(out['x-forwarded-user'], 'alice');
  });

  test('an Authorization header with a Gatehouse token is recognised (verified or not); others are not', () => {
    const issuer = 'https://gatehouse.example.com';
    assert.equal(isGatewayAuthorization(`Bearer ${jwt({ iss: issuer, aud: 'gatehouse' })}`, issuer), true);
    assert.equal(isGatewayAuthorization(`bearer   ${jwt({ iss: issuer, aud: 'k8s' })}`, issuer), true, 'any audience of ours');
    assert.equal(isGatewayAuthorization(`Bearer ${jwt({ iss: 'https://idp.example.com' })}`, issuer), false);
    assert.equal(isGatewayAuthorization('Bearer opaque-app-token', issuer), false);
    assert.equal(isGatewayAuthorization('Basic YWxpY2U6cHc=', issuer), false);
    const out = upstreamRequestHeaders(
      { authorization: `Bearer ${jwt({ iss: issuer })}`, cookie: 'gatehouse_session=s; __Host-gatehouse_app_session=a; app=1' },
      { ...base, dropAuthorization: true },
    );
    assert.equal(out.authorization, undefined);
    assert.equal(out.cookie, 'app=1');
  });

  test('list items keep their commas: "," and "%" are percent-encoded', () => {
    assert.equal(['devs', 'a,b', '100%'].map(listItem).join(','), 'devs,a%2Cb,100%25');
    assert.deepEqual('devs,a%2Cb,100%25'.split(',').map(decodeURIComponent), ['devs', 'a,b', '100%']);
  });
});

describe('sandbox CSP for untrusted path apps', () => {
  test('added as a second policy the app cannot loosen', () => {
    const out = downstreamResponseHeaders({ 'content-security-policy': 'default-src *; sandbox allow-same-origin' }, { sandbox: true });
    assert.deepEqual(out['content-security-policy'], ['default-src *; sandbox allow-same-origin', SANDBOX_CSP]);
    assert.doesNotMatch(SANDBOX_CSP, /allow-same-origin/);
    assert.deepEqual(downstreamResponseHeaders({}, { sandbox: true })['content-security-policy'], [SANDBOX_CSP]);
    assert.equal(downstreamResponseHeaders({}, {})['content-security-policy'], undefined);
  });

  test('the registry sandboxes a path app built in code without trust_gateway_origin; trusted and host apps are not', () => {
    const trusted = parseConfig({
      server: { public_url: 'https://gw.example.com' },
      connectors: [{ type: 'demo' }],
      apps: [
        { name: 'wiki', upstream: 'http://w', path: '/apps/wiki/', trust_gateway_origin: true },
        { name: 'g', upstream: 'http://g', public_host: 'g.example.com' },
      ],
    });
    const r = createAppRegistry(trusted);
    assert.equal(r.byName.get('wiki')!.sandboxed, false);
    assert.equal(r.byName.get('g')!.sandboxed, false);
    assert.equal(r.byName.get('g')!.origin, 'https://g.example.com');
    assert.equal(r.byName.get('wiki')!.forwardedHost, 'gw.example.com');
    const untrusted = createAppRegistry({ ...trusted, apps: [{ ...trusted.apps[0], trust_gateway_origin: false }] });
    assert.equal(untrusted.byName.get('wiki')!.sandboxed, true);
  });
});
