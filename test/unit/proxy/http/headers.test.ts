import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { downstreamResponseHeaders, headerSafe, stripGatehouseCookies, upstreamRequestHeaders } from '../../../../src/proxy/http/headers.js';

const base = {
  identity: [['x-forwarded-user', 'alice']] as [string, string][],
  configured: new Set(['x-webauth-user']),
  host: 'up:3000',
  forwardedFor: '10.0.0.1',
  forwardedHost: 'app.example.com',
  forwardedProto: 'https',
};

describe('upstream request headers', () => {
  test('identity headers from the client are removed, then set from the session', () => {
    const out = upstreamRequestHeaders(
      {
        'x-forwarded-user': 'mallory',
        'x-forwarded-email': 'm@evil',
        'x-forwarded-groups': 'root',
        'x-forwarded-preferred-username': 'm',
        'x-auth-request-user': 'm',
        'x-auth-request-anything': 'm',
        'gatehouse-jwt-assertion': 'forged',
        'gatehouse-whatever': 'x',
        'x-webauth-user': 'root',
        'x-other': 'kept',
        accept: 'text/html',
      },
      base,
    );
    assert.deepEqual(out, {
      'x-other': 'kept',
      accept: 'text/html',
      host: 'up:3000',
      'x-forwarded-for': '10.0.0.1',
      'x-forwarded-host': 'app.example.com',
      'x-forwarded-proto': 'https',
      'x-forwarded-user': 'alice',
    });
  });

  test('hop-by-hop headers and those named in Connection are dropped; forwarding headers are ours', () => {
    const out = upstreamRequestHeaders(
      {
        connection: 'keep-alive, x-secret-hop',
        'keep-alive': 'timeout=5',
        'x-secret-hop': '1',
        te: 'trailers',
        'transfer-encoding': 'chunked',
        upgrade: 'websocket',
        'proxy-authorization': 'Basic x',
        host: 'spoofed',
        'x-forwarded-for': '1.2.3.4',
        forwarded: 'for=1.2.3.4',
        'x-real-ip': '1.2.3.4',
      },
      base,
    );
    for (const name of ['connection', 'keep-alive', 'x-secret-hop', 'te', 'transfer-encoding', 'upgrade', 'proxy-authorization', 'forwarded', 'x-real-ip'])
      assert.equal(out[name], undefined, name);
    assert.equal(out.host, 'up:3000');
    assert.equal(out['x-forwarded-for'], '10.0.0.1');
  });

  test('WebSocket handshakes keep Upgrade; gateway tokens in Authorization are dropped only when asked', () => {
    const out = upstreamRequestHeaders({ connection: 'Upgrade', upgrade: 'websocket', authorization: 'Bearer app-own' }, { ...base, upgrade: true });
    assert.equal(out.connection, 'upgrade');
    assert.equal(out.upgrade, 'websocket');
    assert.equal(out.authorization, 'Bearer app-own');
    assert.equal(upstreamRequestHeaders({ authorization: 'Bearer gw' }, { ...base, dropAuthorization: true }).authorization, undefined);
  });

  test("Gatehouse's cookies are removed, other cookies pass unchanged", () => {
    assert.equal(stripGatehouseCookies('a=1; gatehouse_session=s; b=2'), 'a=1; b=2');
    assert.equal(stripGatehouseCookies('__Host-gatehouse_session=s;a=1;__Host-gatehouse_app_session=x'), 'a=1');
    assert.equal(stripGatehouseCookies('gatehouse_app_state_abc=1'), undefined);
    assert.equal(stripGatehouseCookies('theme=dark; lang=en'), 'theme=dark; lang=en');
    assert.equal(stripGatehouseCookies('my_gatehouse_pref=1; x=gatehouse_session'), 'my_gatehouse_pref=1; x=gatehouse_session');
    assert.equal(upstreamRequestHeaders({ cookie: 'gatehouse_session=s' }, base).cookie, undefined);
  });
});

describe('downstream response headers', () => {
  test("an app cannot set Gatehouse's cookies; Location is rewritten; hop-by-hop dropped", () => {
    const out = downstreamResponseHeaders(
      {
        'set-cookie': ['a=1; Path=/', 'gatehouse_session=evil; Path=/', '__Host-gatehouse_app_session=x'],
        location: 'http://up:3000/x',
        connection: 'close',
        'transfer-encoding': 'chunked',
        'content-type': 'text/plain',
      },
      { rewriteLocation: (l) => l.replace('http://up:3000', 'https://app.example.com') },
    );
    assert.deepEqual(out, { 'set-cookie': ['a=1; Path=/'], location: 'https://app.example.com/x', 'content-type': 'text/plain' });
  });

  test('a single Set-Cookie (a string, as undici gives it) gets the same check', () => {
    assert.deepEqual(downstreamResponseHeaders({ 'set-cookie': 'gatehouse_session=evil; Path=/' }, {}), {});
    assert.deepEqual(downstreamResponseHeaders({ 'set-cookie': 'a=1; Path=/' }, {}), { 'set-cookie': ['a=1; Path=/'] });
  });
});

test('header values from identity are printable ASCII', () => {
  assert.equal(headerSafe('alice'), 'alice');
  assert.equal(headerSafe('zoë'), 'zo%C3%AB');
  assert.equal(headerSafe('a\r\nX-Evil: 1'), 'a%0D%0AX-Evil: 1');
  assert.equal(headerSafe('\ud800'), '%EF%BF%BD');
});
