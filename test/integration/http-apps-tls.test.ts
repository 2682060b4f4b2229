import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { WebSocket } from 'ws';
import { alice, startAppsGateway, type AppsSetup } from '../helpers/gateways/apps.js';
import { makeTls, type TestTls } from '../helpers/peers/tls.js';
import { startUpstream, type Upstream } from '../helpers/peers/upstream.js';
import { ACCEPT_HTML, Browser } from '../helpers/browsers/browser.js';
import { openSignedIn } from '../helpers/browsers/sign-in.js';

describe('HTTP apps with an https upstream', () => {
  let tls: TestTls;
  let upstream: Upstream;
  let s: AppsSetup;
  let gw: string;
  let cookie: string;

  before(async () => {
    tls = makeTls();
    upstream = await startUpstream({ tls: { cert: tls.cert, key: tls.key } });
    s = await startAppsGateway([
      { name: 'trusted', upstream: upstream.url, path: '/apps/trusted/', trust_gateway_origin: true, roles: ['dev'], ca_file: tls.caFile },
      { name: 'untrusted', upstream: upstream.url, path: '/apps/untrusted/', trust_gateway_origin: true, roles: ['dev'] },
    ]);
    gw = s.gw.url;
    const browser = new Browser({ accept: ACCEPT_HTML });
    await openSignedIn(browser, `${gw}/apps/trusted/`, alice);
    cookie = `gatehouse_session=${browser.cookies('127.0.0.1').gatehouse_session}`;
  });
  after(async () => {
    await s.stop();
    await upstream.close();
    rmSync(tls.dir, { recursive: true, force: true });
  });

  test('ca_file: requests reach an upstream whose certificate chains to it, identity headers set', async () => {
    const res = await fetch(`${gw}/apps/trusted/page`, { headers: { cookie } });
    assert.equal(res.status, 200);
    const seen = (await res.json()) as { url: string; headers: Record<string, string> };
    assert.equal(seen.url, '/apps/trusted/page');
    assert.equal(seen.headers['x-forwarded-user'], 'alice');
    assert.ok(seen.headers['gatehouse-jwt-assertion']);
  });

  test('ca_file: a WebSocket echoes over the TLS upstream', async () => {
    const ws = new WebSocket(`${gw.replace('http', 'ws')}/apps/trusted/socket`, { headers: { cookie } });
    await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
    const echoed = new Promise<string>((resolve) => ws.once('message', (data) => resolve(String(data))));
    ws.send('over tls');
    assert.equal(await echoed, 'over tls');
    ws.close();
    assert.equal(upstream.seen.filter((r) => r.method === 'WEBSOCKET').at(-1)?.headers['x-forwarded-user'], 'alice');
  });

  test('without ca_file an upstream certificate the system does not trust is refused: 502 app_unavailable', async () => {
    const before = upstream.seen.length;
    const res = await fetch(`${gw}/apps/untrusted/page`, { headers: { cookie, accept: 'application/json' } });
    assert.equal(res.status, 502);
    const body = (await res.json()) as { error: string; message: string };
    assert.equal(body.error, 'app_unavailable');
    assert.match(body.message, /"untrusted"/);
    assert.equal(upstream.seen.length, before, 'no request reached the upstream');
    const outage = await s.gw.waitForEvent((e) => e.type === 'app.upstream' && e.outcome === 'failure');
    assert.equal(outage.reason, 'app_unavailable');
    assert.deepEqual([(outage.details as { app: string }).app, outage.user], ['untrusted', 'alice']);
    assert.match(String((outage.details as { error: string }).error), /certificate/i);
  });
});
