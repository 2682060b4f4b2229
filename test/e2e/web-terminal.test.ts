// The web terminal in real headless Chromium: alice signs in through the embedded IdP, follows
// the link on "my access" to /terminal/node1?login=<test login>, types a command into xterm.js and sees its output from a real sshd,
// reached through the same upstream, recording and audit path as `ssh -J`.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import WebSocket from 'ws';
import { transcript } from '../../src/recording/reader.js';
import { eventually } from '../helpers/eventually.js';
import { startGateway } from '../helpers/gateways/gateway.js';
import { launchChromium, signInWithIdp } from '../helpers/browsers/chromium.js';
import { prepareSshd, SSH_TEST_POLICY, NODE_LOGIN } from '../helpers/peers/ssh.js';

const PASSWORD = 'alice-e2e-pw'; // secret-scan: allow

test('web terminal: a shell on a real sshd from headless Chromium, recorded and audited', { timeout: 120_000 }, async (t) => {
  const browser = await launchChromium(t);
  if (!browser) return;
  const node = await prepareSshd(t);
  if (!node) return;
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-web-term-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const gw = await startGateway({
    roles: SSH_TEST_POLICY.roles,
    mappings: SSH_TEST_POLICY.mappings,
    connectors: [{ type: 'demo', users: [{ username: 'alice', password: PASSWORD, email: 'alice@example.com', groups: ['admins'] }] }],
    ssh: { listen: '127.0.0.1:0', nodes: [{ name: 'node1', addr: `127.0.0.1:${node.port}`, labels: { env: 'dev' }, host_key: node.hostKey }] },
    recordings: { dir },
  });
  t.after(() => gw.stop());
  const sshd = await node.start(await (await fetch(`${gw.url}/api/v1/ssh/ca?type=user`)).text());
  t.after(() => sshd.stop());

  const page = await browser.newPage();
  page.setDefaultTimeout(15_000);
  const errors: string[] = [];
  page.on('pageerror', (err) => errors.push(`${page.url()}: ${err.message}`));

  // Signed out: sign in first, then back to the page asked for.
  await page.goto(`${gw.url}/terminal/node1?login=${NODE_LOGIN}`);
  await signInWithIdp(page, gw.url, { username: 'alice', password: PASSWORD }, `${gw.url}/terminal/node1?login=${NODE_LOGIN}`);
  // "My access" links every login alice has on every node to its terminal.
  await page.goto(`${gw.url}/`);
  assert.deepEqual(await page.locator('#ssh-nodes a.tag').allTextContents(), [`${NODE_LOGIN}@node1`, 'ops@node1'].sort());
  await page.click(`#ssh-nodes a:text("${NODE_LOGIN}@node1")`);
  await page.waitForURL(`${gw.url}/terminal/node1?login=${NODE_LOGIN}`);

  await page.waitForFunction(() => document.getElementById('terminal-status')?.textContent === 'Connected.');
  await page.locator('#terminal .xterm-helper-textarea').focus();
  await page.keyboard.type('echo web-$((6*7))');
  await page.keyboard.press('Enter');
  await page.waitForFunction(() => (document.querySelector('#terminal .xterm-rows')?.textContent ?? '').includes('web-42'));
  // This terminal's session (its shell answered): the last one started. The terminal the sign-in
  // redirect opened, left at once for the home page, may have had a session of its own.
  const sessionId = gw
    .auditEvents()
    .filter((e) => e.type === 'session.start' && e.details?.via === 'web-terminal')
    .at(-1)?.session_id;
  assert.ok(sessionId, 'session.start of the terminal');
  // The terminal fits the window: a smaller window means fewer columns and rows, on the node's pty too.
  const size = () =>
    page.evaluate(() => {
      const { term } = (window as unknown as { gatehouseTerminal: { term: { cols: number; rows: number } } }).gatehouseTerminal;
      return { cols: term.cols, rows: term.rows };
    });
  const before = await size();
  await page.setViewportSize({ width: 700, height: 500 });
  await page.waitForFunction(
    (cols) => (window as unknown as { gatehouseTerminal: { term: { cols: number } } }).gatehouseTerminal.term.cols < cols,
    before.cols,
  );
  const after = await size();
  assert.ok(after.rows < before.rows, `rows ${before.rows} -> ${after.rows}`);
  await page.keyboard.type('stty size');
  await page.keyboard.press('Enter');
  await page.waitForFunction(
    (expected) => (document.querySelector('#terminal .xterm-rows')?.textContent ?? '').includes(expected),
    `${after.rows} ${after.cols}`,
  );
  await page.keyboard.type('exit');
  await page.keyboard.press('Enter');
  await page.waitForFunction(() => (document.getElementById('terminal-status')?.textContent ?? '').startsWith('Session ended'));
  assert.equal(await page.locator('#terminal-status').textContent(), 'Session ended (exit 0).');

  const end = await gw.waitForEvent((e) => e.type === 'session.end' && e.session_id === sessionId, 10_000);
  const start = gw.auditEvents().find((e) => e.type === 'session.start' && e.session_id === end.session_id);
  assert.ok(start, 'session.start with the same session id');
  assert.equal(start.user, 'alice');
  assert.equal(start.details?.recorded, true);
  assert.equal(start.details?.via, 'web-terminal');
  assert.equal(end.details?.node, 'node1');
  assert.equal(end.details?.login, NODE_LOGIN);
  assert.equal(end.details?.exit_code, 0);
  const cast = join(dir, `${end.session_id}.cast`);
  assert.equal(end.details?.recording_sha256, createHash('sha256').update(readFileSync(cast)).digest('hex'), 'session.end carries the recording hash');
  assert.match(await transcript(cast), /web-42/);

  // A login the roles do not allow: a 403 page and access.denied.
  const denied = await page.goto(`${gw.url}/terminal/node1?login=nobody`);
  assert.equal(denied?.status(), 403);
  assert.match((await page.locator('body').textContent()) ?? '', /may not log in as "nobody"/);
  const event = await gw.waitForEvent((e) => e.type === 'access.denied' && e.reason === 'login_not_allowed');
  assert.equal(event.user, 'alice');
  assert.equal(event.details?.login, 'nobody');
  assert.deepEqual(errors, []);

  // The WebSocket with alice's cookie but from a page on another origin is refused.
  const cookie = (await page.context().cookies()).map((c) => `${c.name}=${c.value}`).join('; ');
  const handshake = (origin: string) =>
    new Promise<number>((resolve, reject) => {
      const ws = new WebSocket(`${gw.url.replace('http', 'ws')}/terminal/node1/ws?login=${NODE_LOGIN}`, { headers: { cookie, origin } });
      ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      ws.on('open', () => {
        ws.close();
        resolve(101);
      });
      ws.on('error', reject);
    });
  assert.equal(await handshake('http://evil.example'), 403);
  const refused = await gw.waitForEvent((e) => e.type === 'access.denied' && e.reason === 'origin_rejected');
  assert.equal(refused.details?.origin, 'http://evil.example');
  // The same cookie from the gateway's own origin is accepted (so the 403 was the origin check).
  assert.equal(await handshake(gw.url), 101);
  await gw.waitForEvent((e) => e.type === 'session.end' && e.session_id !== end.session_id, 10_000);

  // Signing out elsewhere (a request with the browser's cookies) ends an open terminal at once, with the reason.
  await page.goto(`${gw.url}/terminal/node1?login=${NODE_LOGIN}`);
  await page.waitForFunction(() => document.getElementById('terminal-status')?.textContent === 'Connected.');
  const shell = await gw.waitForEvent(
    (e) =>
      e.type === 'session.start' &&
      e.details?.via === 'web-terminal' &&
      !gw.auditEvents().some((x) => x.type === 'session.end' && x.session_id === e.session_id),
    10_000,
  );
  const signOut = await page.context().request.post(`${gw.url}/logout`, { headers: { 'sec-fetch-site': 'same-origin' }, maxRedirects: 0 });
  assert.equal(signOut.status(), 302);
  await page.waitForFunction(() => document.getElementById('terminal-status')?.textContent === 'Session ended: signed out.');
  await gw.waitForEvent((e) => e.type === 'session.end' && e.session_id === shell.session_id, 10_000);

  // Every connection to the node is closed again, including the one for the page left while it connected.
  const stillOpen = () => {
    const log = sshd.log();
    return [...log.matchAll(/Accepted publickey for \S+ from \S+ port (\d+)/g)]
      .map((m) => m[1])
      .filter((port) => !new RegExp(`Disconnected from user \\S+ \\S+ port ${port}\\b`).test(log));
  };
  await eventually(() => !stillOpen().length, { timeoutMs: 10_000, intervalMs: 100, message: () => `connections still open: ${stillOpen()}` });
  assert.deepEqual(stillOpen(), []);
});
