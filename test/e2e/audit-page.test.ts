// The /audit review page in a real headless Chromium: an auditor signs in through the demo IdP's
// forms, pages through events on the server, filters them, opens an event and follows the link to
// a session's recording; a non-auditor sees only their own events and cannot reach others'.
import assert from 'node:assert/strict';
import { after, before, test, type TestContext } from 'node:test';
import type { Page } from 'playwright-core';
import type { AuditEvent } from '../../src/audit/sink.js';
import { startGateway, type TestGateway } from '../helpers/gateways/gateway.js';
import { launchChromium, signInWithIdp } from '../helpers/browsers/chromium.js';

const alice = { username: 'alice', password: 'alice-e2e-pw', email: 'alice@example.com', groups: ['auditors'] }; // secret-scan: allow
const bob = { username: 'bob', password: 'bob-e2e-pw', email: 'bob@example.com', groups: ['devs'] }; // secret-scan: allow

let gw: TestGateway;
let sessionEvent: AuditEvent;
let aliceEvent: AuditEvent;
const seeded: AuditEvent[] = [];

before(async () => {
  gw = await startGateway({
    connectors: [{ type: 'demo', id: 'demo', users: [alice, bob] }],
    roles: [{ name: 'auditor', audit: 'read' }, { name: 'dev' }],
    mappings: [
      { match: { claim: 'groups', value: 'auditors' }, roles: ['auditor'] },
      { match: { claim: 'groups', value: 'devs' }, roles: ['dev'] },
    ],
  });
  const emit = gw.gateway.audit.emit.bind(gw.gateway.audit);
  for (let i = 0; i < 90; i++) {
    const user = ['alice', 'bob', 'carol'][i % 3];
    seeded.push(
      await emit({
        type: i % 2 ? 'user.logout' : 'user.login',
        outcome: i % 5 ? 'success' : 'failure',
        user,
        reason: i % 5 ? undefined : 'state_mismatch',
        details: { note: `seed-${i}` },
      }),
    );
  }
  aliceEvent = seeded[0];
  sessionEvent = await emit({ type: 'session.start', outcome: 'success', user: 'alice', session_id: 'rec-0042', node: 'web-1', details: { login: 'ubuntu' } });
});
after(async () => {
  await gw?.stop();
});

async function signIn(t: TestContext, user: { username: string; password: string }): Promise<Page | undefined> {
  const browser = await launchChromium(t);
  if (!browser) return undefined;
  const page = await browser.newPage();
  page.setDefaultTimeout(15_000);
  const problems: string[] = [];
  page.on('console', (msg) => {
    if (msg.type() !== 'error' || new URL(page.url()).pathname.startsWith('/demo-idp/')) return;
    // Error statuses of the documents this test navigates to on purpose (400, 403, 404) are expected.
    if (msg.location().url === page.url() && /status of 4\d\d/.test(msg.text())) return;
    problems.push(`${page.url()}: ${msg.text()}`);
  });
  page.on('pageerror', (err) => problems.push(err.message));
  t.after(() => assert.deepEqual(problems, [], 'no console errors (CSP, scripts, assets)'));
  await page.goto(`${gw.url}/audit`);
  // Not signed in: the page sends us to sign in and back.
  await page.waitForURL(`${gw.url}/login?return_to=%2Faudit`);
  await signInWithIdp(page, gw.url, user, `${gw.url}/audit`);
  return page;
}

const rowIds = (page: Page) => page.locator('#audit-events tr.event').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-id')!));
const column = (page: Page, cls: string) => page.locator(`#audit-events td.${cls}`).allTextContents();

test('an auditor pages, filters, opens an event and reaches its recording', { timeout: 120_000 }, async (t) => {
  const page = await signIn(t, alice);
  if (!page) return;
  assert.equal(await page.title(), 'Audit log · Gatehouse');

  await t.test('the first page is the newest 50, and "Older events" continues on the server', async () => {
    const first = await rowIds(page);
    assert.equal(first.length, 50);
    const newest = await gw.gateway.audit.query({ limit: 50, order: 'desc' });
    assert.deepEqual(
      first,
      newest.events.map((e) => e.id),
      'newest first',
    );
    assert.ok(first.includes(sessionEvent.id));
    await page.click('#audit-next');
    const second = await rowIds(page);
    assert.ok(second.length > 0);
    assert.equal(new Set([...first, ...second]).size, first.length + second.length, 'no event on both pages');
    assert.match(new URL(page.url()).searchParams.get('cursor') ?? '', /^[A-Za-z0-9_-]+$/);
    await page.click('#audit-first');
    assert.deepEqual(await rowIds(page), first);
    await page.screenshot({ path: '/tmp/gatehouse-audit.png' }); // for a human look; not committed
  });

  await t.test('filters: user, outcome, type prefix, text and time range', async () => {
    await page.fill('input[name="user"]', 'bob');
    await page.selectOption('select[name="outcome"]', 'failure');
    await page.click('#audit-search');
    await page.waitForURL(/outcome=failure/);
    const expected = seeded
      .filter((e) => e.user === 'bob' && e.outcome === 'failure')
      .map((e) => e.id)
      .reverse();
    assert.deepEqual(await rowIds(page), expected);
    assert.deepEqual(new Set(await column(page, 'user')), new Set(['bob']));

    await page.goto(`${gw.url}/audit`);
    await page.fill('input[name="type"]', 'session.*');
    await page.click('#audit-search');
    await page.waitForURL(/type=session/);
    assert.deepEqual(await rowIds(page), [sessionEvent.id]);

    await page.goto(`${gw.url}/audit`);
    await page.fill('input[name="q"]', 'SEED-42');
    await page.click('#audit-search');
    await page.waitForURL(/q=SEED-42/);
    assert.deepEqual(await rowIds(page), [seeded[42].id]);

    const later = new Date(Date.now() + 3_600_000).toISOString().slice(0, 19);
    await page.goto(`${gw.url}/audit`);
    await page.fill('input[name="from"]', later);
    await page.click('#audit-search');
    await page.waitForURL(/from=/);
    assert.equal(await page.locator('#audit-empty').textContent(), 'No events match.');
    const earlier = new Date(Date.now() - 3_600_000).toISOString().slice(0, 19);
    await page.fill('input[name="from"]', earlier);
    await page.fill('input[name="to"]', later);
    await page.click('#audit-search');
    await page.waitForURL(/to=/);
    assert.equal((await rowIds(page)).length, 50);
  });

  await t.test('a bad filter is explained on the page', async () => {
    const res = await page.goto(`${gw.url}/audit?type=NOT+A+TYPE`);
    assert.equal(res?.status(), 400);
    assert.match((await page.locator('#audit-error').textContent()) ?? '', /is not a type/);
  });

  await t.test('an event opens in a detail view that links to the session recording', async () => {
    await page.goto(`${gw.url}/audit?type=session.*`);
    assert.equal(await page.locator('#audit-events a.recording').getAttribute('href'), '/recordings/rec-0042');
    await page.click('#audit-events a.view');
    await page.waitForURL(`${gw.url}/audit/${sessionEvent.id}`);
    assert.equal(await page.locator('#event-id').textContent(), sessionEvent.id);
    assert.equal(await page.locator('#event-session').textContent(), 'rec-0042');
    assert.equal(await page.locator('#event-hash').textContent(), sessionEvent.hash);
    assert.deepEqual(JSON.parse((await page.locator('#event-details').textContent())!), { login: 'ubuntu' });
    assert.equal(await page.locator('#event-recording').getAttribute('href'), '/recordings/rec-0042');
    // Login events carry a gateway-session digest, not a recording: no link.
    await page.goto(`${gw.url}/audit/${aliceEvent.id}`);
    assert.equal(await page.locator('#event-recording').count(), 0);
  });
});

test("a non-auditor sees only their own events and cannot open anyone else's", { timeout: 120_000 }, async (t) => {
  const page = await signIn(t, bob);
  if (!page) return;
  const users = new Set<string>();
  for (;;) {
    (await column(page, 'user')).forEach((u) => users.add(u));
    if (!(await page.locator('#audit-next').count())) break;
    await page.click('#audit-next');
  }
  assert.deepEqual([...users], ['bob']);
  assert.equal(await page.locator('input[name="user"]').count(), 0, 'no user filter to change');

  await page.fill('input[name="q"]', 'seed-0');
  await page.click('#audit-search');
  await page.waitForURL(/q=seed-0/);
  assert.deepEqual(await rowIds(page), [], "alice's seed-0 event stays invisible");

  const forbidden = await page.goto(`${gw.url}/audit?user=alice`);
  assert.equal(forbidden?.status(), 403);
  assert.equal(await page.locator('#error-code').textContent(), 'audit_forbidden');
  const hidden = await page.goto(`${gw.url}/audit/${aliceEvent.id}`);
  assert.equal(hidden?.status(), 404);
  const api = await page.request.get(`${gw.url}/api/v1/audit/events?limit=1000`);
  const body = (await api.json()) as { events: AuditEvent[] };
  assert.ok(body.events.length > 0 && body.events.every((e) => e.user === 'bob'), 'the API with the session cookie agrees');
});
