/**
 * The demo IdP's password form (embedded oidc-provider under /demo-idp) limits guesses per
 * username and per client address, with real HTTP form posts through the gateway. Each hostile
 * case checks the status, the error shown, the audit events (`user.login` failure with reason
 * `invalid_credentials` per wrong guess, `rate_limited` once per window) and that no sign-in was
 * issued (no redirect to the callback, no session, no `user.login` success).
 *
 * Hostile cases: 3 (username brute force incl. case/space variants; address-wide spraying over
 * many usernames; a correct password after the lock-out).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Browser, type Page } from '../../helpers/browsers/browser.js';
import { startGateway, type TestGateway } from '../../helpers/gateways/gateway.js';

const carol = { username: 'carol', password: 'carol-demo-idp-pw', email: 'carol@example.com', groups: [] }; // secret-scan: allow
const dave = { username: 'dave', password: 'dave-demo-idp-pw', email: 'dave@example.com', groups: [] }; // secret-scan: allow

async function loginForm(browser: Browser, gw: TestGateway): Promise<Page> {
  const form = await browser.go(`${gw.url}/login/demo`);
  assert.match(form.body, /name="password"/, 'IdP login form');
  return form;
}

async function assertNothingIssued(browser: Browser, gw: TestGateway, page: Page) {
  assert.equal(page.location, undefined, 'no redirect back to the gateway');
  assert.equal(browser.cookie('gatehouse_session'), undefined);
  assert.equal((await browser.request(`${gw.url}/api/v1/whoami`)).status, 401);
  assert.equal(gw.auditEvents().filter((e) => e.type === 'user.login' && e.outcome === 'success').length, 0);
}

const start = () => startGateway({ connectors: [{ type: 'demo', id: 'demo', users: [carol, dave] }] });

test('per username: 5 wrong guesses (any case or spacing), then 429 even with the right password, audited once', async (t) => {
  const gw = await start();
  t.after(() => gw.stop());
  const browser = new Browser();
  let page = await loginForm(browser, gw);
  for (const guess of ['carol', 'CAROL', ' carol', 'Carol ', 'carol']) {
    page = await browser.submit(page, 'login', { username: guess, password: 'wrong-guess' });
    assert.equal(page.status, 401);
    assert.match(page.body, /Invalid username or password/);
  }
  for (let i = 0; i < 3; i++) {
    page = await browser.submit(page, 'login', { username: 'carol', password: carol.password });
    assert.equal(page.status, 429, 'refused without checking the password');
    assert.match(page.body, /Too many failed sign-in attempts/);
    assert.ok(Number(page.responseHeaders?.get('retry-after')) >= 1);
    await assertNothingIssued(browser, gw, page);
  }
  const failures = gw.auditEvents().filter((e) => e.type === 'user.login' && e.outcome === 'failure');
  assert.equal(failures.filter((e) => e.reason === 'invalid_credentials').length, 5);
  const limited = failures.filter((e) => e.reason === 'rate_limited');
  assert.equal(limited.length, 1, 'a lock-out is audited once per window, not per attempt');
  assert.equal(limited[0].code, 'GH1001W');
  assert.equal(limited[0].connector, 'demo');
  assert.equal(limited[0].user, 'carol');
  assert.equal(limited[0].details?.via, 'demo-idp');
  assert.equal(limited[0].details?.limit, 'username');
  assert.equal(limited[0].remote_addr, '127.0.0.1');

  // Another person from elsewhere is not locked out by carol's counter (per username) ...
  const other = new Browser();
  const done = await other.submit(await loginForm(other, gw), 'login', { username: dave.username, password: dave.password });
  assert.notEqual(done.status, 429);
});

test('per address: spraying 20 usernames locks the address out, even for a correct password', async (t) => {
  const gw = await start();
  t.after(() => gw.stop());
  const browser = new Browser();
  let page = await loginForm(browser, gw);
  for (let i = 0; i < 20; i++) {
    page = await browser.submit(page, 'login', { username: `spray-${i}`, password: 'Winter2026!' });
    assert.equal(page.status, 401);
  }
  page = await browser.submit(page, 'login', { username: dave.username, password: dave.password });
  assert.equal(page.status, 429);
  await assertNothingIssued(browser, gw, page);
  const events = gw.auditEvents().filter((e) => e.type === 'user.login' && e.outcome === 'failure');
  assert.equal(events.filter((e) => e.reason === 'invalid_credentials').length, 20);
  for (const e of events.filter((e) => e.reason === 'invalid_credentials')) assert.equal(e.user, undefined, 'unknown names are not logged as users');
  const limited = events.filter((e) => e.reason === 'rate_limited');
  assert.equal(limited.length, 1);
  assert.equal(limited[0].details?.limit, 'address');
});
