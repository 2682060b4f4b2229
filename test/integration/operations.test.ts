import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Browser } from '../helpers/browsers/browser.js';
import { startGateway } from '../helpers/gateways/gateway.js';
import { closedPort } from '../helpers/peers/services.js';
import { alice, startSso, type SsoSetup } from '../helpers/gateways/sso.js';
import { logIn } from '../helpers/browsers/sign-in.js';

// Prometheus' bearer token for /metrics, generated per run (server.metrics_bearer_token_file).
const tokenDir = mkdtempSync(join(tmpdir(), 'gatehouse-metrics-'));
const METRICS_TOKEN = randomBytes(24).toString('base64url');
const METRICS_TOKEN_FILE = join(tokenDir, 'token');
writeFileSync(METRICS_TOKEN_FILE, `${METRICS_TOKEN}\n`, { mode: 0o600 });
const scrape = (url: string) => fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } });

describe('operations: metrics and draining', () => {
  let s: SsoSetup;
  before(async () => {
    s = await startSso({
      server: { metrics_bearer_token_file: METRICS_TOKEN_FILE },
      roles: [{ name: 'admin', kubernetes_groups: ['admins'] }],
      mappings: [{ match: { claim: 'groups', value: 'admins' }, roles: ['admin'] }],
    });
  });
  after(async () => {
    await s.stop();
    rmSync(tokenDir, { recursive: true, force: true });
  });

  const metric = async (url: string, name: string, labels: string) => {
    const text = await (await scrape(url)).text();
    const line = text.split('\n').find((l) => l.startsWith(`${name}{`) && l.includes(labels));
    return line ? Number(line.split(' ').at(-1)) : 0;
  };

  test('/metrics counts logins by connector and outcome, audit events, and audit write latency', async () => {
    const before = await metric(s.gw.url, 'gatehouse_logins_total', 'connector="corp",outcome="success"');
    await logIn(new Browser(), s.gw, 'Corp SSO', alice);
    await fetch(`${s.gw.url}/login/nope`);
    assert.equal(await metric(s.gw.url, 'gatehouse_logins_total', 'connector="corp",outcome="success"'), before + 1);
    assert.ok((await metric(s.gw.url, 'gatehouse_logins_total', 'connector="unknown",outcome="failure"')) >= 1);
    const text = await (await scrape(s.gw.url)).text();
    assert.match(text, /^gatehouse_audit_write_duration_seconds_count \d+/m);
    assert.match(text, /^gatehouse_audit_events_total\{type="user.login",outcome="success"\} \d+/m);
    assert.match(text, /^process_resident_memory_bytes \d+/m);
    assert.match(text, /^gatehouse_audit_spool_depth 0/m);
  });

  test('/metrics needs the bearer token; without a token file it is not served', async () => {
    const none = await fetch(`${s.gw.url}/metrics`);
    assert.equal(none.status, 401);
    assert.equal(((await none.json()) as { error: string }).error, 'metrics_unauthorized');
    assert.match(none.headers.get('www-authenticate') ?? '', /^Bearer/);
    for (const bad of ['Bearer wrong-token-wrong-token', `Bearer ${METRICS_TOKEN}x`, `Basic ${METRICS_TOKEN}`, `Bearer ${METRICS_TOKEN.slice(1)}`]) {
      const res = await fetch(`${s.gw.url}/metrics`, { headers: { authorization: bad } });
      assert.equal(res.status, 401, bad);
      assert.doesNotMatch(await res.text(), /gatehouse_/);
    }
    assert.equal((await scrape(s.gw.url)).status, 200);
    const gw = await startGateway({ connectors: [{ type: 'demo' }] });
    try {
      const res = await fetch(`${gw.url}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
      assert.equal(res.status, 404);
      assert.equal(((await res.json()) as { error: string }).error, 'not_found');
    } finally {
      await gw.stop();
    }
  });

  test('store errors are counted while Redis is unreachable', async () => {
    const gw = await startGateway({
      server: { metrics_bearer_token_file: METRICS_TOKEN_FILE },
      state: { redis_url: `redis://127.0.0.1:${await closedPort()}` },
      connectors: [{ type: 'demo' }],
    });
    try {
      await fetch(`${gw.url}/login/demo`);
      assert.ok((await metric(gw.url, 'gatehouse_store_errors_total', 'operation="increment"')) >= 1);
    } finally {
      await gw.stop();
    }
  });

  test('on shutdown /readyz turns false before the listener closes', async () => {
    const gw = await startGateway({ server: { drain_delay: 1 }, connectors: [{ type: 'demo' }] });
    assert.equal((await fetch(`${gw.url}/readyz`)).status, 200);
    const stopping = gw.stop();
    await new Promise((r) => setTimeout(r, 100));
    const during = await fetch(`${gw.url}/readyz`);
    assert.equal(during.status, 503);
    assert.deepEqual(((await during.json()) as { checks: unknown }).checks, { lifecycle: 'shutting down' });
    await stopping;
  });
});
