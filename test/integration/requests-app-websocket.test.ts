import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { WebSocket } from 'ws';
import { Browser } from '../helpers/browsers/browser.js';
import { logIn } from '../helpers/browsers/sign-in.js';
import { eventually, giveUp } from '../helpers/eventually.js';
import { dave, requestIdsOf, requestPolicy, requestsApi, sam } from '../helpers/gateways/requests.js';
import { startSso, type SsoSetup } from '../helpers/gateways/sso.js';
import { startUpstream, type Upstream } from '../helpers/peers/upstream.js';

/** Only the requestable role lists the app: dave reaches it while a prod-admin request is active. */
const APP = 'ops-console';

/** A WebSocket handshake as dave's browser makes it: open, or refused with a status (0: the connection was cut). */
type Handshake = { ws: WebSocket; closed: Promise<void> } | { status: number };

describe('an app WebSocket opened under a just-in-time access request', () => {
  let s: SsoSetup;
  let upstream: Upstream;
  let api: ReturnType<typeof requestsApi>;
  let cookie: string;
  /** Every socket opened, closed before the gateway stops (its shutdown waits for upgraded connections). */
  const sockets: WebSocket[] = [];

  const handshake = () =>
    new Promise<Handshake>((resolve) => {
      const ws = new WebSocket(`${s.gw.url.replace('http', 'ws')}/apps/${APP}/socket`, { headers: { cookie } });
      sockets.push(ws);
      const closed = new Promise<void>((done) => ws.once('close', () => done()));
      ws.once('unexpected-response', (_req, res) => {
        resolve({ status: res.statusCode ?? 0 });
        ws.terminate();
      });
      ws.once('open', () => resolve({ ws, closed }));
      ws.on('error', () => resolve({ status: 0 })); // cut before any answer: not let in either
    });
  /** Polls until a handshake opens (the 403 decision is cached for up to 10 s). */
  const openWhenAllowed = () =>
    eventually(
      async () => {
        const h = await handshake();
        return 'ws' in h ? h : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 500, message: 'the WebSocket never opened after the approval' },
    );
  const echo = async (ws: WebSocket, text: string) => {
    const echoed = new Promise<string>((resolve) => ws.once('message', (data) => resolve(String(data))));
    ws.send(text);
    return echoed;
  };
  /** Resolves true once the socket has closed, false when it is still open after `timeoutMs`. */
  const closesWithin = (closed: Promise<void>, timeoutMs: number) =>
    Promise.race([closed.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), timeoutMs).unref())]);

  before(async () => {
    upstream = await startUpstream();
    const policy = requestPolicy('root');
    s = await startSso(
      {
        ...policy,
        roles: policy.roles.map((r) => (r.name === 'prod-admin' ? { ...r, apps: [APP] } : r)),
        apps: [{ name: APP, upstream: upstream.url, path: `/apps/${APP}/`, trust_gateway_origin: true }],
      },
      [dave, sam],
    );
    api = requestsApi(s.gw);
    const browser = new Browser();
    await logIn(browser, s.gw, 'Corp SSO', dave);
    cookie = `gatehouse_session=${browser.cookies('127.0.0.1').gatehouse_session}`;
  });
  after(async () => {
    for (const ws of sockets) ws.terminate();
    await s?.stop();
    await upstream?.close();
  });

  test('refused before approval, open once approved (app.session.start names the request), closed when the request is dropped', async () => {
    assert.deepEqual(await handshake(), { status: 403 });
    const denied = await s.gw.waitForEvent((e) => e.type === 'access.denied' && e.details?.app === APP);
    assert.deepEqual([denied.user, denied.reason], ['dave', 'access_denied']);

    const request = await api.create(dave, { reason: 'INC-4713 watch the live console' });
    await api.approve(sam, request.id);
    const open = await openWhenAllowed();
    assert.equal(await echo(open.ws, 'hello under the request'), 'hello under the request');
    const start = await s.gw.waitForEvent((e) => e.type === 'app.session.start' && e.details?.app === APP);
    assert.equal(start.user, 'dave');
    assert.deepEqual(start.details!.access_requests, [{ id: request.id, reason: 'INC-4713 watch the live console' }]);

    await api.drop(dave, request.id);
    assert.ok(await closesWithin(open.closed, 10_000), 'the WebSocket is still open after the request was dropped');
    const revoke = await s.gw.waitForEvent((e) => e.type === 'access_request.revoke' && e.details?.request_id === request.id);
    assert.deepEqual(requestIdsOf(revoke), [request.id]);

    // Until the cached decision (10 s at most) lapses, a handshake may still be let in: each must be ended at once.
    await eventually(
      async () => {
        const h = await handshake();
        if ('ws' in h && !(await closesWithin(h.closed, 10_000))) giveUp('a WebSocket opened after the drop stays open');
        return 'status' in h && h.status === 403;
      },
      { timeoutMs: 30_000, intervalMs: 500, message: 'the WebSocket is not refused (403) after the request ended' },
    );
  });
});
