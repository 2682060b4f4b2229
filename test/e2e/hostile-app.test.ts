// A hostile app behind the gateway, in real headless Chromium. The app is a HOST app on a sibling
// subdomain of the gateway (gateway http://gw.localhost:P, app http://hostile.gw.localhost:P): the
// two are same-site, so the browser sends the gateway's SameSite=Lax session cookie with the app
// page's requests to the gateway. SameSite does not protect this deployment (apps.example.com next to
// gatehouse.example.com is the same); what does is CORS, the CSRF token and Origin checks.
// alice signs in, the app's page loads through the one-time-code hand-off, and its script tries to
// (a) read gateway pages (to scrape a CSRF token), (b) approve a device code the attacker started,
// (c) open the web terminal's WebSocket, (d) get an SSH certificate for the attacker's key.
// Every attempt must fail, observed from the page and from the gateway's side (audit log, token
// endpoint); and the legitimate paths must work, so the refusals are not vacuous.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { AuditEvent } from '../../src/audit/sink.js';
import { fingerprint, parsePublicKeyLine } from '../../src/ssh-ca/keys.js';
import { csrfToken } from '../../src/web/csrf.js';
import { launchChromium, signInWithIdp } from '../helpers/browsers/chromium.js';
import { startGateway } from '../helpers/gateways/gateway.js';
import { startCorpIdp } from '../helpers/gateways/sso.js';
import { startHostileUpstream, sshPublicKeyLine, type HostileReport } from '../helpers/peers/hostile-upstream.js';
import { closedPort } from '../helpers/peers/services.js';
import { NODE_LOGIN, SSH_TEST_POLICY } from '../helpers/peers/ssh.js';

const alice = { username: 'alice', password: 'alice-hostile-e2e-pw', email: 'alice@example.com', groups: ['admins'] }; // secret-scan: allow
const CLIENT = 'gatehouse-cli';
const DEVICE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';

/** A no-cors answer the page cannot read: blocked outright (Chromium's ORB: a TypeError) or opaque with no body. */
const blind = (r: { type?: string; status?: number; length?: number; text?: string; error?: string } | undefined) =>
  r !== undefined && (r.error === 'TypeError' || (r.type === 'opaque' && r.status === 0 && !r.length && !r.text));

test('a hostile host app on a sibling subdomain cannot act as the signed-in person at the gateway', { timeout: 120_000 }, async (t) => {
  const browser = await launchChromium(t);
  if (!browser) return;

  const port = await closedPort();
  const GW = `http://gw.localhost:${port}`;
  const APP = `http://hostile.gw.localhost:${port}`;
  const { idp, corp } = await startCorpIdp(GW, [alice]);
  t.after(() => idp.close());
  const upstream = await startHostileUpstream();
  t.after(() => upstream.close());
  const gw = await startGateway(
    {
      server: { public_url: GW },
      connectors: [corp],
      roles: SSH_TEST_POLICY.roles,
      mappings: SSH_TEST_POLICY.mappings,
      // No sshd runs: the WebSocket must be refused before any node is dialled.
      ssh: { listen: '127.0.0.1:0', nodes: [{ name: 'node1', addr: '127.0.0.1:9', labels: { env: 'dev' } }] },
      apps: [{ name: 'hostile', upstream: upstream.url, public_host: 'hostile.gw.localhost', roles: ['ops'] }],
    },
    { port },
  );
  t.after(() => gw.stop());
  // Node cannot resolve gw.localhost offline; the test's own calls (the attacker's CLI) use the listen address.
  const direct = gw.url;
  const events = (match: (e: AuditEvent) => boolean) => gw.auditEvents().filter(match);

  // The attacker starts a device authorization, as `gatehouse login --device` would, and plants the code in the page.
  const started = await fetch(`${direct}/oauth/device_authorization`, { method: 'POST', body: new URLSearchParams({ client_id: CLIENT, scope: 'openid' }) });
  assert.equal(started.status, 200);
  const device = (await started.json()) as { device_code: string; user_code: string; interval: number };
  const poll = async () => {
    const res = await fetch(`${direct}/oauth/token`, {
      method: 'POST',
      body: new URLSearchParams({ grant_type: DEVICE_GRANT, device_code: device.device_code, client_id: CLIENT }),
    });
    return { status: res.status, body: (await res.json()) as { error?: string; access_token?: string } };
  };
  const attackerKey = sshPublicKeyLine('mallory@attacker');
  const attackerFingerprint = fingerprint(parsePublicKeyLine(attackerKey).blob);

  const page = await browser.newPage();
  page.setDefaultTimeout(15_000);
  const pageErrors: string[] = [];
  page.on('pageerror', (err) => pageErrors.push(`${page.url()}: ${err.message}`));
  // Signed out on the app's host: the hand-off sends the browser to the gateway, which signs alice in and hands back.
  const query = new URLSearchParams({ gw: GW, user_code: device.user_code, login: NODE_LOGIN, public_key: attackerKey });
  const appUrl = `${APP}/?${query}`;
  await page.goto(appUrl);
  await signInWithIdp(page, GW, alice, appUrl, { connector: 'corp', issuer: idp.issuer });
  await page.waitForFunction(() => (window as unknown as { __hostileDone?: boolean }).__hostileDone === true, undefined, { timeout: 60_000 });
  const report = (await page.evaluate(() => (window as unknown as { __hostile: unknown }).__hostile)) as HostileReport;
  const shown = JSON.stringify(report, null, 1);

  const cookies = await page.context().cookies();
  const session = cookies.find((c) => c.name === 'gatehouse_session');
  assert.ok(session, `a gateway session on ${GW}`);
  assert.equal(session.domain, 'gw.localhost', 'host-only on the gateway');
  assert.ok(
    cookies.some((c) => c.name === 'gatehouse_app_session' && c.domain === 'hostile.gw.localhost'),
    'an app session on the app host',
  );
  const csrf = csrfToken(session.value);

  await t.test('not vacuous: the app works through the hand-off, and no Gatehouse cookie or token reaches it', () => {
    assert.equal(report.own?.status, 200, shown);
    assert.equal(report.own?.body?.user, 'alice', 'the app sees alice');
    assert.equal(report.own?.body?.authorization, null);
    assert.doesNotMatch(report.own?.body?.cookie ?? '', /gatehouse_/, 'no Gatehouse cookie reaches the app');
    assert.ok(!upstream.seen.some((r) => /gatehouse_/.test(String(r.headers.cookie ?? ''))), 'the upstream never saw a Gatehouse cookie');
    assert.ok(events((e) => e.type === 'app.session.start' && e.outcome === 'success' && e.user === 'alice').length >= 1, 'app.session.start');
  });

  await t.test('(a) gateway pages are not readable from the app origin: no body, no CSRF token', () => {
    for (const path of ['/', '/device', '/api/v1/whoami']) {
      assert.deepEqual(report.reads[path], { error: 'TypeError' }, `credentialed CORS read of ${path} fails: ${shown}`);
      assert.ok(blind(report.opaque[path]), `no-cors read of ${path} is blocked or opaque: ${shown}`);
    }
    assert.ok(
      report.frame && (report.frame.error === 'SecurityError' || report.frame.read === null || !/csrf/.test(report.frame.read ?? '')),
      `framed /device is unreadable: ${shown}`,
    );
    assert.ok(!shown.includes(csrf), 'the CSRF token never reached the page');
    assert.ok(!shown.includes(session.value), 'nor the session id');
  });

  await t.test('(b) cross-origin device approvals are refused (auth.csrf_rejected) and the code stays pending', async () => {
    assert.deepEqual(report.approvals, ['form-no-token', 'form-forged-token', 'fetch-no-cors']);
    const onDevice = (e: { type: string; details?: Record<string, unknown> }) => e.type === 'auth.csrf_rejected' && e.details?.path === '/device/decide';
    const rejected = await gw.waitForEvent((e) => onDevice(e) && events(onDevice).length >= 3);
    const all = events(onDevice);
    assert.equal(all.length, 3, JSON.stringify(all));
    for (const e of all) {
      assert.equal(e.outcome, 'failure');
      assert.equal(e.reason, 'csrf_failed');
      assert.equal(e.details?.why, 'foreign_origin', JSON.stringify(e));
      assert.equal(e.details?.origin, APP);
      assert.equal(e.details?.path, '/device/decide');
      assert.equal(e.details?.sec_fetch_site, 'same-site');
      assert.equal(e.user, 'alice', 'the cookie identified alice: the Origin check refused it, not a missing session');
    }
    assert.ok(rejected);
    assert.equal(events((e) => e.type === 'device.authorized').length, 0, 'no approval (nor any decision) was recorded');
    const pending = await poll();
    assert.equal(pending.status, 400);
    assert.equal(pending.body.error, 'authorization_pending', "the attacker's CLI gets nothing");
  });

  await t.test('(c) the web terminal WebSocket from the app origin never opens (403 origin_rejected)', async () => {
    assert.ok(report.ws, shown);
    assert.ok(!report.ws.events.includes('open'), `no open: ${shown}`);
    assert.ok(report.ws.events.includes('error') && report.ws.events.includes('close'), `error then close: ${shown}`);
    assert.equal(report.ws.closeCode, 1006, 'abnormal closure: the handshake was refused');
    const refused = await gw.waitForEvent((e) => e.type === 'access.denied' && e.reason === 'origin_rejected');
    assert.equal(refused.details?.origin, APP);
    assert.equal(refused.details?.node, 'node1');
    assert.equal(refused.details?.via, 'web-terminal');
    assert.equal(events((e) => e.type === 'session.start').length, 0, 'no terminal session started');
  });

  await t.test("(d) no SSH certificate for the attacker's key, and no readable answer", async () => {
    assert.deepEqual(report.certs.cors, { error: 'TypeError' }, shown);
    assert.ok(blind(report.certs.opaque), shown);
    assert.equal(report.certs.form?.text ?? null, null, 'the framed answer is unreadable');
    assert.ok(!/ssh-ed25519-cert|certificate/.test(JSON.stringify(report.certs)), shown);
    const issued = events((e) => e.type === 'ssh.cert.issued');
    assert.equal(issued.filter((e) => e.outcome === 'success').length, 0, `no ssh.cert.issued success: ${JSON.stringify(issued)}`);
    assert.ok(!issued.some((e) => e.details?.key_fingerprint === attackerFingerprint));
    // All three requests (CORS fetch, no-cors fetch, text/plain form) carried alice's cookie; the
    // API refuses cookie-authenticated writes from any other origin before the handler runs.
    assert.equal(issued.length, 0, JSON.stringify(issued));
    const onCerts = (e: { type: string; details?: Record<string, unknown> }) => e.type === 'auth.csrf_rejected' && e.details?.path === '/api/v1/ssh/certs';
    await gw.waitForEvent((e) => onCerts(e) && events(onCerts).length >= 3);
    const refused = events(onCerts);
    assert.equal(refused.length, 3, JSON.stringify(refused));
    for (const e of refused) {
      assert.equal(e.user, 'alice');
      assert.equal(e.reason, 'csrf_failed');
      assert.equal(e.details?.sec_fetch_site, 'same-site');
    }
  });

  await t.test("control: on the gateway's own origin alice can approve the same code and get a certificate", async () => {
    await page.goto(`${GW}/device?user_code=${device.user_code}`);
    await page.getByRole('button', { name: 'Continue' }).click();
    await page.click('#approve');
    await page.getByText('Device approved').waitFor();
    await new Promise((r) => setTimeout(r, device.interval * 1000));
    const tokens = await poll();
    assert.equal(tokens.status, 200, JSON.stringify(tokens.body));
    assert.ok(tokens.body.access_token);
    assert.equal(events((e) => e.type === 'device.authorized' && e.outcome === 'success' && e.user === 'alice').length, 1);

    const ownKey = sshPublicKeyLine('alice@laptop');
    const cert = await page.evaluate(async (public_key) => {
      const r = await fetch('/api/v1/ssh/certs', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ public_key }) });
      return { status: r.status, body: (await r.json()) as { certificate?: string } };
    }, ownKey);
    assert.equal(cert.status, 201, JSON.stringify(cert.body));
    assert.match(cert.body.certificate ?? '', /^ssh-ed25519-cert-v01@openssh\.com /);
    const issued = await gw.waitForEvent((e) => e.type === 'ssh.cert.issued' && e.outcome === 'success');
    assert.equal(issued.user, 'alice');
    assert.equal(issued.details?.key_fingerprint, fingerprint(parsePublicKeyLine(ownKey).blob));
    assert.deepEqual(pageErrors, []);
  });
});
