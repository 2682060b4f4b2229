// Fail closed: when the audit log cannot record a login (storage failing, on_failure: refuse),
// the login is refused with 503 audit_unavailable and no session exists afterwards.
import assert from 'node:assert/strict';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { Browser, redirectedTo } from '../helpers/browsers/browser.js';
import { signInThroughIdp } from '../helpers/browsers/sign-in.js';
import { startGateway } from '../helpers/gateways/gateway.js';

const carol = { username: 'carol', password: 'carol-fc-pw', email: 'carol@example.com', groups: [] }; // secret-scan: allow

async function logIn(browser: Browser, url: string) {
  const done = await signInThroughIdp(browser, await browser.go(`${url}/login/demo`), carol, `${url}/callback/`);
  return browser.request(redirectedTo(done, `${url}/callback/`).href);
}

test('a login that cannot be audited is refused, and leaves no session', async (t) => {
  const gw = await startGateway({ connectors: [{ type: 'demo', id: 'demo', users: [carol] }], audit: { on_failure: 'refuse' } });
  t.after(() => gw.stop());
  // Today's audit file becomes a directory: every write fails.
  const blocker = join(gw.dataDir, 'audit', `audit-${new Date().toISOString().slice(0, 10)}.jsonl`);
  mkdirSync(blocker, { recursive: true });

  const browser = new Browser();
  const callback = await logIn(browser, gw.url);
  assert.equal(callback.status, 503);
  assert.match(callback.body, /audit_unavailable/);
  assert.equal(browser.cookie('gatehouse_session'), undefined, 'no session cookie');
  const ready = (await (await fetch(`${gw.url}/readyz`)).json()) as { ready: boolean; checks: Record<string, string> };
  assert.equal(ready.ready, false);
  assert.match(ready.checks.audit, /audit file write failed/);

  // Storage back: the same person signs in, and the login is on record.
  rmSync(blocker, { recursive: true });
  const again = await logIn(new Browser(), gw.url);
  assert.equal(again.status, 302);
  const event = await gw.waitForEvent((e) => e.type === 'user.login' && e.outcome === 'success' && e.user === 'carol');
  assert.equal(event.connector, 'demo');
});
