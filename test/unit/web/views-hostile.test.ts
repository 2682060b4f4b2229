import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { AuditEvent } from '../../../src/audit/sink.js';
import { html } from '../../../src/core/html.js';
import type { ExternalIdentity } from '../../../src/core/types.js';
import * as demoIdpViews from '../../../src/demo-idp/views.js';
import type { RecordingMeta } from '../../../src/recording/recorder.js';
import * as auditViews from '../../../src/web/views/audit.js';
import * as deviceViews from '../../../src/web/views/device.js';
import * as layoutViews from '../../../src/web/views/layout.js';
import * as pageViews from '../../../src/web/views/pages.js';
import * as recordingViews from '../../../src/web/views/recordings.js';
import * as samlViews from '../../../src/web/views/saml.js';
import * as terminalViews from '../../../src/web/views/terminal.js';

/** What an IdP, a client or a config could put in a field. */
const HOSTILE = ['<script>alert(1)</script>', '"onmouseover="x', "q'uote", 'javascript:alert(1)'];

const identity = (h: string): ExternalIdentity => ({ connector: h, subject: h, username: h, email: h, groups: [h, 'devs'], claims: { name: h } });

const recording = (h: string): RecordingMeta => ({
  id: h,
  user: h,
  login: h,
  node: h,
  command: h,
  kind: 'exec',
  start: '2026-01-31T17:05:00.000Z',
  end: '2026-01-31T17:06:00.000Z',
  cols: 80,
  rows: 24,
  term: h,
  bytes: 10,
  exit_signal: h,
  sha256: h,
});

const event = (h: string, type: string): AuditEvent => ({
  id: h,
  time: '2026-01-31T17:05:00.000Z',
  type: type as AuditEvent['type'],
  code: h,
  outcome: 'failure',
  user: h,
  connector: h,
  roles: [h],
  remote_addr: h,
  user_agent: h,
  request_id: h,
  session_id: h,
  cluster: h,
  node: h,
  app: h,
  reason: h,
  details: { field: h },
  prev_hash: h,
  hash: h,
});

interface Rendering {
  /** The module's export the rendering exercises. */
  view: string;
  label?: string;
  render: (h: string) => string;
  /** False for a page that shows no value from outside (nothing to find escaped). */
  shows?: false;
}

/** Every page renderer of every views module, each with a hostile value in every field from outside. */
const views: { module: string; exports: Record<string, unknown>; renderings: Rendering[] }[] = [
  {
    module: 'web/views/layout.ts',
    exports: layoutViews,
    renderings: [{ view: 'layout', render: (h) => layoutViews.layout({ title: h, user: h, demo: true, body: html`<p>${h}</p>` }) }],
  },
  {
    module: 'web/views/pages.ts',
    exports: pageViews,
    renderings: [
      { view: 'loginPage', render: (h) => pageViews.loginPage({ demo: true, connectors: [{ id: h, name: h }], returnTo: h }) },
      { view: 'logoutPage', render: (h) => pageViews.logoutPage({ demo: true, user: h, csrf: h }) },
      {
        view: 'homePage',
        render: (h) =>
          pageViews.homePage({
            demo: true,
            session: { id: h, identity: identity(h), createdAt: 0, lastSeenAt: 0, expiresAt: 0, upstreamIdToken: h },
            tokenClaims: { sub: h, preferred_username: h, email: h, groups: [h], roles: [h], connector: h },
            catalogue: {
              server: h,
              roles: [h],
              apps: [
                { name: h, url: h },
                { name: h, url: undefined },
              ],
              nodes: [{ name: h, labels: { [h]: h }, logins: [h, 'root'] }],
              clusters: [{ name: h }],
              databases: [
                { name: h, protocol: h, labels: { [h]: h }, users: [h, 'postgres'], names: [h], connect: [`gatehouse db connect ${h} --db-user ${h}`] },
              ],
              recordings: [recording(h)],
            },
          }),
      },
      { view: 'errorPage', render: (h) => pageViews.errorPage({ demo: true, status: 403, code: h, message: h, requestId: h }) },
    ],
  },
  {
    module: 'web/views/device.ts',
    exports: deviceViews,
    renderings: [
      { view: 'deviceEntryPage', render: (h) => deviceViews.deviceEntryPage({ demo: true, user: h, csrf: h, userCode: h, error: h }) },
      { view: 'deviceConfirmPage', render: (h) => deviceViews.deviceConfirmPage({ demo: true, user: h, csrf: h, userCode: h }) },
      { view: 'deviceDonePage', render: (h) => deviceViews.deviceDonePage({ demo: true, user: h, approved: true }) },
      { view: 'cliDonePage', render: () => deviceViews.cliDonePage({ demo: true }), shows: false },
    ],
  },
  {
    module: 'web/views/saml.ts',
    exports: samlViews,
    // The ACS builds `next` itself from the connector id (src/web/routes/saml.ts), as here.
    renderings: [
      { view: 'samlContinuePage', render: (h) => samlViews.samlContinuePage(`/saml/${encodeURIComponent(h)}/acs/complete?k=${encodeURIComponent(h)}`) },
    ],
  },
  {
    module: 'web/views/terminal.ts',
    exports: terminalViews,
    renderings: [{ view: 'terminalPage', render: (h) => terminalViews.terminalPage({ demo: true, user: h, node: h, login: h }) }],
  },
  {
    module: 'web/views/recordings.ts',
    exports: recordingViews,
    renderings: [
      {
        view: 'recordingsPage',
        render: (h) =>
          recordingViews.recordingsPage({ demo: true, user: h, recordings: [recording(h)], query: { q: h, user: h, node: h, from: h, to: h }, all: true }),
      },
      { view: 'recordingPage', render: (h) => recordingViews.recordingPage({ demo: true, user: h, meta: recording(h) }) },
    ],
  },
  {
    module: 'web/views/audit.ts',
    exports: auditViews,
    renderings: [
      ...[true, false].map((auditor) => ({
        view: 'auditPage',
        label: auditor ? 'auditPage (auditor)' : 'auditPage (own events)',
        render: (h: string) =>
          auditViews.auditPage({
            demo: true,
            username: h,
            auditor,
            query: { from: h, to: h, types: [h], user: h, session_id: h, cluster: h, node: h, app: h, q: h, id: h, limit: 50, cursor: h, order: 'desc' },
            page: { events: [event(h, h), event(h, 'session.start')], next_cursor: h, first_cursor: h, has_more: true },
            error: h,
          }),
      })),
      { view: 'auditEventPage', render: (h) => auditViews.auditEventPage({ demo: true, username: h, event: event(h, 'session.start') }) },
    ],
  },
  {
    module: 'demo-idp/views.ts',
    exports: demoIdpViews,
    renderings: [
      { view: 'renderPage', render: (h) => demoIdpViews.renderPage(h, h, html`<p>${h}</p>`) },
      {
        view: 'loginPage',
        render: (h) =>
          demoIdpViews.loginPage({
            title: h,
            action: `/idp/interaction/${encodeURIComponent(h)}/login`,
            abortAction: `/idp/interaction/${encodeURIComponent(h)}/abort`,
            clientId: h,
            username: h,
            error: h,
          }),
      },
      {
        view: 'consentPage',
        render: (h) =>
          demoIdpViews.consentPage({
            title: h,
            action: `/idp/interaction/${encodeURIComponent(h)}/confirm`,
            abortAction: `/idp/interaction/${encodeURIComponent(h)}/abort`,
            clientId: h,
            accountId: h,
            scopes: [h],
            claims: [h],
            resources: [[h, [h]]],
          }),
      },
      // The form is oidc-provider's own markup, embedded verbatim; the title is ours (config).
      {
        view: 'logoutPage',
        render: (h) =>
          demoIdpViews.logoutPage(
            h,
            '<form id="op.logoutForm" method="post" action="/idp/session/end/confirm"><input type="hidden" name="xsrf" value="abc"></form>',
          ),
      },
      { view: 'signedOutPage', render: (h) => demoIdpViews.signedOutPage(h, h) },
      { view: 'providerErrorPage', render: (h) => demoIdpViews.providerErrorPage(h, h, h) },
      { view: 'interactionErrorPage', render: (h) => demoIdpViews.interactionErrorPage(h, false, h) },
    ],
  },
];

/** Fails when a hostile value shows up as markup rather than text. */
function assertEscaped(out: string, where: string) {
  assert.doesNotMatch(out, /<script>alert/i, `${where}: a raw <script>`);
  assert.ok(!out.includes('"onmouseover="x'), `${where}: a double quote broke out of an attribute`);
  assert.doesNotMatch(out, /[\s"'/]onmouseover\s*=/i, `${where}: an event handler attribute`);
  assert.ok(!out.includes("q'uote"), `${where}: a raw single quote`);
  assert.doesNotMatch(out, /\b(?:href|src|action|formaction)\s*=\s*["']?\s*javascript:/i, `${where}: a javascript: URL`);
  assert.doesNotMatch(out, /url\s*=\s*javascript:/i, `${where}: a javascript: refresh`);
}

describe('views escape hostile values from IdPs, clients and the config', () => {
  for (const { module, exports, renderings } of views) {
    test(`${module}: every page renderer is covered`, () => {
      const pages = Object.entries(exports)
        .filter(([name, value]) => typeof value === 'function' && (name.endsWith('Page') || name === 'layout'))
        .map(([name]) => name);
      const covered = new Set(renderings.map((r) => r.view));
      assert.deepEqual(
        pages.filter((name) => !covered.has(name)),
        [],
        `${module}: renderers with no hostile rendering here`,
      );
    });

    for (const { view, label, render, shows } of renderings) {
      test(`${module} ${label ?? view}`, () => {
        for (const hostile of HOSTILE) assertEscaped(render(hostile), `${label ?? view} with ${hostile}`);
        if (shows === false) return;
        // Not vacuous: the value is on the page, escaped (or URL-encoded).
        const out = render(HOSTILE[0]);
        assert.ok(
          out.includes('&lt;script&gt;alert(1)') || out.includes('%3Cscript%3Ealert(1)'),
          `${label ?? view}: the hostile value is not on the page at all`,
        );
      });
    }
  }
});
