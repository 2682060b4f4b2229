import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Browser } from '../helpers/browser.js';
import { startGateway } from '../helpers/gateway.js';
import { closedPort } from '../helpers/services.js';
import { alice, logIn, startSso, type SsoSetup } from '../helpers/sso.js';

describe('operations: metrics and draining', () => {
  let s: SsoSetup;
  before(async () => {
    s = await startSso({ roles: [{ name: 'admin', kubernetes_groups: ['admins'] }], mappings: [{ match: { claim: 'groups', value: 'admins' }, roles: ['admin'] }] });
  });
  after(() => s.stop());

  const metric = async (url: string, name: string, labels: string) => {
    const text = await (await fetch(`${url}/metrics`)).text();
    const line = text.split('\n').find((l) => l.startsWith(`${name}{`) && l.includes(labels));
    return line ? Number(line.split(' ').at(-1)) : 0;
  };

  test('/metrics counts logins by connector and outcome, audit events, and audit write latency', async () => {
    const before = await metric(s.gw.url, 'gatehouse_logins_total', 'connector="corp",outcome="success"');
    await logIn(new Browser(), s.gw, 'Corp SSO', alice);
    await fetch(`${s.gw.url}/login/nope`);
    assert.equal(await metric(s.gw.url, 'gatehouse_logins_total', 'connector="corp",outcome="success"'), before + 1);
    assert.ok((await metric(s.gw.url, 'gatehouse_logins_total', 'connector="unknown",outcome="failure"')) >= 1);
    const text = await (await fetch(`${s.gw.url}/metrics`)).text();
    assert.match(text, /^gatehouse_audit_write_seconds_count \d+/m);
    assert.match(text, /^gatehouse_audit_events_total\{type="user.login",outcome="success"\} \d+/m);
    assert.match(text, /^gatehouse_process_resident_memory_bytes \d+/m);
    assert.match(text, /^gatehouse_audit_spool_depth 0/m);
  });

  test('store errors are counted while Redis is unreachable', async () => {
    const gw = await startGateway({ state: { redis_url: `redis://127.0.0.1:${await closedPort()}` }, connectors: [{ type: 'demo' }] });
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
