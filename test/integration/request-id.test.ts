import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { pino } from 'pino';
import { Browser } from '../helpers/browsers/browser.js';
import { startReplicas } from '../helpers/gateways/replicas.js';
import { alice } from '../helpers/gateways/sso.js';
import { reachCallback } from '../helpers/browsers/sign-in.js';

test('a login carries one request id: the X-Request-Id header, the audit event and the access log line', async () => {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  const r = await startReplicas(1, {}, { logger: pino({ level: 'info' }, sink) });
  try {
    const browser = new Browser();
    const callback = await reachCallback(browser, r.replicas[0].url, r.url, alice);
    const done = await browser.request(callback.href);
    assert.equal(done.status, 302, done.body);
    const requestId = done.responseHeaders?.get('x-request-id');
    assert.match(requestId ?? '', /^[A-Za-z0-9._-]{8,128}$/);
    const event = await r.replicas[0].waitForEvent((e) => e.type === 'user.login' && e.outcome === 'success');
    assert.equal(event.request_id, requestId);
    const logged = lines.find((l) => l.msg === 'request' && l.requestId === requestId);
    assert.ok(logged, 'an access log line with the same request id');
    assert.equal(logged.path, '/callback/corp');
    assert.equal(logged.status, 302);
    assert.ok(!JSON.stringify(lines).includes(callback.searchParams.get('code')!), 'the authorization code is never logged');

    // A request id the client (or an ingress) sent is kept when well formed.
    const given = 'ingress-0123456789abcdef';
    const res = await fetch(`${r.replicas[0].url}/healthz`, { headers: { 'x-request-id': given } });
    assert.equal(res.headers.get('x-request-id'), given);
    assert.ok(lines.some((l) => l.requestId === given && l.path === '/healthz'));
  } finally {
    await r.stop();
  }
});
