// The /requests page in real headless Chromium, against the embedded IdP: bob (devs, so a
// developer) asks for prod-admin; alice (admins and devs, so also sre-lead, its reviewer role)
// approves it from her own browser; bob sees it active, then ends it. Along the way: bob cannot
// review his own request (no button; a forged form without the CSRF token is refused and
// audited; with it, the service refuses and audits), a replayed review is refused, and an HTML
// reason or comment renders as text.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import type { AuditEvent } from '../../src/audit/sink.js';
import { launchChromium, signInWithIdp } from '../helpers/browsers/chromium.js';
import { alice, bob, startSso, type SsoSetup } from '../helpers/gateways/sso.js';

const FOUR_HOURS = 4 * 3_600_000;
const HOSTILE_REASON = `INC-9 <img src=x onerror=alert(1)> "quoted" & 'single'`;
const HOSTILE_COMMENT = '<b>not</b> today <script>alert(2)</script>';

const policy = {
  roles: [
    { name: 'developer', request: { roles: ['prod-admin'], reviewers: { roles: ['sre-lead'], approvals: 1 }, require_reason: true } },
    { name: 'sre-lead' },
    { name: 'prod-admin', requestable: true, max_duration: '4h', logins: ['root'] },
  ],
  mappings: [
    { match: { claim: 'groups', value: 'devs' }, roles: ['developer'] },
    { match: { claim: 'groups', value: 'admins' }, roles: ['sre-lead'] },
  ],
};

interface SignedIn {
  page: Page;
  /** Console errors and page errors on gateway pages (CSP violations, scripts, assets). */
  problems: string[];
}

/** A fresh browser context (its own cookies) signed in at /requests through the IdP's forms. */
async function signIn(browser: Browser, sso: SsoSetup, user: { username: string; password: string }): Promise<SignedIn> {
  const url = sso.gw.url;
  const page = await (await browser.newContext()).newPage();
  page.setDefaultTimeout(15_000);
  const problems: string[] = [];
  page.on('console', (msg) => {
    if (msg.type() !== 'error' || !page.url().startsWith(url)) return;
    // The refusals this test provokes on purpose are documents with 4xx statuses.
    if (msg.location().url === page.url() && /status of 4\d\d/.test(msg.text())) return;
    problems.push(`${page.url()}: ${msg.text()}`);
  });
  page.on('pageerror', (err) => problems.push(err.message));
  page.on('dialog', (dialog) => {
    problems.push(`a dialog opened: ${dialog.message()}`);
    void dialog.dismiss();
  });
  await page.goto(`${url}/requests`);
  // Signed out: the page sends people to sign in and back.
  await page.waitForURL(`${url}/login?return_to=%2Frequests`);
  await signInWithIdp(page, url, user, `${url}/requests`, { connector: 'corp', issuer: sso.idp.issuer });
  return { page, problems };
}

const item = (page: Page, list: string, id: string) => page.locator(`#${list} li.request[data-id="${id}"]`);
const hidden = (page: Page, form: string, name: string) => page.locator(`${form} input[name="${name}"]`).first().inputValue();

test('the /requests page: ask, review, refuse forgeries and replays, end', { timeout: 120_000 }, async (t) => {
  const browser = await launchChromium(t);
  if (!browser) return;
  const sso = await startSso(policy);
  t.after(() => sso.stop());
  const { gw } = sso;
  const url = gw.url;
  const event = (match: (e: AuditEvent) => boolean) => gw.waitForEvent(match);

  // alice signs in first: eligible reviewers are the people seen signing in who hold a reviewer role.
  const alicePage = await signIn(browser, sso, alice);
  const bobPage = await signIn(browser, sso, bob);
  const a = alicePage.page;
  const b = bobPage.page;
  t.after(() => {
    assert.deepEqual(alicePage.problems, [], 'no console errors for alice');
    assert.deepEqual(bobPage.problems, [], 'no console errors for bob');
  });
  let id = '';

  await t.test('bob asks for prod-admin and sees it pending, with alice as who can approve it', async () => {
    assert.equal(await b.title(), 'Access requests · Gatehouse');
    assert.equal(await b.locator('#nav-requests').getAttribute('href'), '/requests');
    assert.equal(await b.locator('#request-form input[name="roles"][value="prod-admin"]').isChecked(), true, 'the only option is chosen');
    assert.equal(await b.locator('#request-reason').getAttribute('required'), '', 'a reason is required');
    assert.match((await b.locator('#request-form').textContent()) ?? '', /up to 4h · approved by 1 of sre-lead · reason required/);
    assert.equal(await b.locator('#request-duration').inputValue(), '', 'the longest allowed by default');
    assert.equal(await b.locator('#review').count(), 0, 'nothing for bob to review');

    await b.fill('#request-reason', 'INC-123 fix prod');
    await b.click('#request-submit');
    await b.waitForURL(/\/requests\?done=requested/);
    assert.match((await b.locator('#requests-notice').textContent()) ?? '', /Request sent/);
    const mine = b.locator('#my-requests li.request');
    assert.equal(await mine.count(), 1);
    id = (await mine.getAttribute('data-id')) ?? '';
    assert.equal(await mine.getAttribute('data-state'), 'pending');
    assert.equal(await mine.locator('.reason').textContent(), 'INC-123 fix prod');
    assert.equal(await mine.locator('.approvals').textContent(), '0 / 1');
    assert.deepEqual(await mine.locator('.eligible .reviewer').allTextContents(), ['alice']);
    assert.equal((await mine.locator('.reviewer-roles').textContent())?.trim(), 'sre-lead');
    assert.equal(await mine.locator('.duration').textContent(), '4h');

    const created = await event((e) => e.type === 'access_request.create' && e.details?.request_id === id);
    assert.equal(created.user, 'bob');
    assert.equal(created.details?.duration_ms, FOUR_HOURS);
  });

  await t.test('bob cannot approve his own request: no button, forged forms refused, the service refuses too', async () => {
    assert.equal(await item(b, 'my-requests', id).locator('button.approve').count(), 0, 'no Approve on his own request');
    assert.equal(await item(b, 'my-requests', id).locator('button.drop').textContent(), 'Withdraw');

    const action = `${url}/requests/${id}/review`;
    const headers = { accept: 'application/json' };
    const missing = await b.request.post(action, { form: { decision: 'approve' }, headers });
    assert.equal(missing.status(), 403);
    assert.equal(((await missing.json()) as { error: string }).error, 'csrf_failed');
    const wrong = await b.request.post(action, { form: { decision: 'approve', csrf: 'A'.repeat(43) }, headers });
    assert.equal(wrong.status(), 403);
    assert.equal(((await wrong.json()) as { error: string }).error, 'csrf_failed');
    for (const why of ['token_missing', 'token_mismatch']) {
      const rejected = await event((e) => e.type === 'auth.csrf_rejected' && e.details?.path === `/requests/${id}/review` && e.details?.why === why);
      assert.equal(rejected.user, 'bob');
      assert.equal(rejected.reason, 'csrf_failed');
    }
    assert.ok(!gw.auditEvents().some((e) => e.type === 'access_request.review'), 'a forged form never reaches the service');

    // With the real token (taken from his own page), the form is his: the service says no.
    const csrf = await hidden(b, '#request-form', 'csrf');
    const selfReview = await b.request.post(action, { form: { decision: 'approve', csrf }, headers: { accept: 'text/html' } });
    assert.equal(selfReview.status(), 403);
    const body = await selfReview.text();
    assert.match(body, /id="requests-error"[^>]*>You cannot review your own request\./);
    assert.match(body, /<code id="error-code">request_self_review<\/code>/);
    const refused = await event((e) => e.type === 'access_request.review' && e.outcome === 'failure' && e.details?.request_id === id);
    assert.equal(refused.user, 'bob');
    assert.equal(refused.reason, 'request_self_review');

    await b.reload();
    assert.equal(await item(b, 'my-requests', id).getAttribute('data-state'), 'pending', 'still pending');
  });

  let replay: Record<string, string> = {};
  await t.test('alice approves it from "Waiting for your review"; bob sees it active with its expiry', async () => {
    await a.goto(`${url}/requests`);
    const waiting = item(a, 'to-review', id);
    assert.equal(await waiting.locator('.requester').textContent(), 'bob (bob@corp.example)');
    assert.equal(await waiting.locator('.reason').textContent(), 'INC-123 fix prod');
    assert.equal(await waiting.locator('.approvals').textContent(), '0 / 1');
    assert.deepEqual(await waiting.locator('.eligible .reviewer').allTextContents(), ['alice']);
    const form = waiting.locator('form.review');
    replay = {
      csrf: await form.locator('input[name="csrf"]').inputValue(),
      back: await form.locator('input[name="back"]').inputValue(),
      comment: '',
      decision: 'approve',
    };
    await waiting.locator('button.approve').click();
    await a.waitForURL(`${url}/requests?done=activated`);
    assert.match((await a.locator('#requests-notice').textContent()) ?? '', /active/);
    assert.equal(await a.locator(`#to-review li.request[data-id="${id}"]`).count(), 0, 'no longer waiting');

    await b.goto(`${url}/requests`);
    const active = item(b, 'my-requests', id);
    assert.equal(await active.getAttribute('data-state'), 'active');
    assert.equal(await active.locator('.eligible').count(), 0);
    const shown = await active.locator('.expires time').getAttribute('datetime');
    const api = (await (await b.request.get(`${url}/api/v1/requests/${id}`)).json()) as { expires_at: string; activated_at: string };
    assert.equal(shown, api.expires_at);
    assert.equal(Date.parse(api.expires_at) - Date.parse(api.activated_at), FOUR_HOURS, 'the duration starts at approval');
    assert.equal(await active.locator('button.drop').textContent(), 'End now');
    await b.goto(`${url}/`);
    assert.match((await b.locator('#roles').textContent()) ?? '', /prod-admin/, 'the role applies');

    const review = await event((e) => e.type === 'access_request.review' && e.outcome === 'success' && e.details?.request_id === id);
    assert.equal(review.user, 'alice');
    assert.equal(review.details?.decision, 'approve');
    const activated = await event((e) => e.type === 'access_request.activate' && e.details?.request_id === id);
    assert.equal(activated.user, 'bob');
    assert.deepEqual(activated.details?.approved_by, ['alice']);
  });

  await t.test('replaying alice’s review is refused (409) and audited', async () => {
    const again = await a.request.post(`${url}/requests/${id}/review`, { form: replay, headers: { accept: 'text/html' } });
    assert.equal(again.status(), 409);
    assert.match(await again.text(), /<code id="error-code">(request_not_pending|request_already_reviewed)<\/code>/);
    const refused = await event((e) => e.type === 'access_request.review' && e.outcome === 'failure' && e.user === 'alice' && e.details?.request_id === id);
    assert.match(refused.reason ?? '', /^(request_not_pending|request_already_reviewed)$/);
  });

  await t.test('an HTML reason and comment render as text, on the list and the detail page', async () => {
    await b.goto(`${url}/requests`);
    await b.fill('#request-reason', HOSTILE_REASON);
    await b.click('#request-submit');
    await b.waitForURL(/\/requests\?done=requested/);
    const second = b.locator('#my-requests li.request[data-state="pending"]');
    const secondId = (await second.getAttribute('data-id')) ?? '';
    assert.equal(await second.locator('.reason').textContent(), HOSTILE_REASON);
    assert.equal(await b.locator('main img, main script').count(), 0, 'no element injected');

    await a.goto(`${url}/requests`);
    const waiting = item(a, 'to-review', secondId);
    assert.equal(await waiting.locator('.reason').textContent(), HOSTILE_REASON);
    assert.equal(await a.locator('main img, main script').count(), 0);
    // The link notifications send: the detail page, with the same review buttons.
    await waiting.locator(`a[href="/requests/${secondId}"]`).click();
    await a.waitForURL(`${url}/requests/${secondId}`);
    await a.fill('form.review input[name="comment"]', HOSTILE_COMMENT);
    await a.click('form.review button.deny');
    await a.waitForURL(`${url}/requests/${secondId}?done=denied`);
    assert.equal(await a.locator('.request .state').textContent(), 'denied');
    assert.equal(await a.locator('#reviews .comment').textContent(), HOSTILE_COMMENT);
    assert.equal(await a.locator('main img, main script, main b').count(), 0, 'no element injected');
    assert.equal(await a.locator('form.review').count(), 0, 'nothing left to review');

    const denied = await event((e) => e.type === 'access_request.review' && e.details?.request_id === secondId);
    assert.equal(denied.details?.comment, HOSTILE_COMMENT);
    assert.equal(denied.details?.state, 'denied');

    const missing = await b.goto(`${url}/requests/00000000-0000-4000-8000-000000000000`);
    assert.equal(missing?.status(), 404);
    assert.equal(await b.locator('#error-code').textContent(), 'request_not_found');
  });

  await t.test('bob ends it now: revoked, audited, and the role no longer applies', async () => {
    await b.goto(`${url}/requests`);
    await item(b, 'my-requests', id).locator('button.drop').click();
    await b.waitForURL(`${url}/requests?done=ended`);
    const ended = item(b, 'my-requests', id);
    assert.equal(await ended.getAttribute('data-state'), 'revoked');
    assert.match((await ended.locator('.ended').textContent()) ?? '', /by bob$/);
    assert.equal(await ended.locator('button.drop').count(), 0);

    const revoke = await event((e) => e.type === 'access_request.revoke' && e.details?.request_id === id);
    assert.equal(revoke.user, 'bob');
    assert.equal(revoke.outcome, 'success');
    assert.equal(revoke.details?.from, 'active');
    await b.goto(`${url}/`);
    assert.doesNotMatch((await b.locator('#roles').textContent()) ?? '', /prod-admin/);
  });
});
