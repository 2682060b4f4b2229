import type { RequestOption } from '../../access/requests.js';
import type { RequestView } from '../../requests/index.js';
import { html, type SafeHtml } from './html.js';
import { layout } from './layout.js';

/** What a redirect after a form (`?done=…`) says. Keys only: the query's text is never shown. */
const NOTICES = new Map([
  ['requested', 'Request sent. The roles apply once enough reviewers approve it.'],
  ['approved', 'Your approval is recorded; the request needs more approvals before it starts.'],
  ['activated', 'Approved: the request is active and its roles apply now.'],
  ['denied', 'Request denied.'],
  ['withdrawn', 'Request withdrawn.'],
  ['ended', 'Request ended: its roles no longer apply.'],
  ['revoked', 'Request revoked: its roles no longer apply.'],
]);

/** Durations a request form offers, besides "the longest allowed". */
const DURATION_STEPS: [string, number][] = [
  ['15m', 900_000],
  ['30m', 1_800_000],
  ['1h', 3_600_000],
  ['2h', 7_200_000],
  ['4h', 14_400_000],
  ['8h', 28_800_000],
  ['12h', 43_200_000],
  ['1d', 86_400_000],
  ['7d', 604_800_000],
];

interface PageBase {
  demo: boolean;
  user: string;
  csrf: string;
  /** `done` from the query string, shown when it is a known notice. */
  done?: string;
  error?: { code: string; message: string };
}

/** The viewer's roles from mappings alone: they decide who may revoke someone else's active request. */
type ViewerRoles = { baseRoles: string[] };

export interface RequestsPageOptions extends PageBase, ViewerRoles {
  options: RequestOption[];
  /** Pending requests the viewer may review. */
  toReview: RequestView[];
  mine: RequestView[];
  /** Everything else the viewer may see. */
  others: RequestView[];
  /** The submitted form, shown again after a refusal. */
  form?: { roles: string[]; reason: string; duration: string };
}

/** `4h`, `1h 30m`, `45s`. */
function formatDuration(ms: number): string {
  const parts: string[] = [];
  let rest = Math.round(ms / 1000);
  for (const [unit, seconds] of [
    ['d', 86_400],
    ['h', 3_600],
    ['m', 60],
    ['s', 1],
  ] as const) {
    if (rest >= seconds) {
      parts.push(`${Math.floor(rest / seconds)}${unit}`);
      rest %= seconds;
    }
  }
  return parts.join(' ') || '0s';
}

const utcTime = (iso: string): SafeHtml => html`<time datetime="${iso}">${iso.slice(0, 10)} ${iso.slice(11, 16)} UTC</time>`;
const href = (r: RequestView) => `/requests/${encodeURIComponent(r.id)}`;
const tags = (names: string[]) => (names.length ? names.map((n) => html`<span class="tag">${n}</span> `) : '—');

function banners(o: PageBase): SafeHtml {
  const notice = o.done ? NOTICES.get(o.done) : undefined;
  return html`${notice ? html`<p class="notice" id="requests-notice" role="status">${notice}</p>` : ''}
  ${o.error ? html`<p class="error-text" id="requests-error" role="alert">${o.error.message} <code id="error-code">${o.error.code}</code></p>` : ''}`;
}

/** Withdraw (own, pending), End now (own, active) or Revoke (someone else's active one, for a reviewer). */
function dropLabel(r: RequestView, o: ViewerRoles & { own: boolean }): string | undefined {
  if (o.own) return r.state === 'pending' ? 'Withdraw' : r.state === 'active' ? 'End now' : undefined;
  return r.state === 'active' && r.reviewers.roles.some((role) => o.baseRoles.includes(role)) ? 'Revoke' : undefined;
}

function actions(r: RequestView, o: { csrf: string; own: boolean; back: 'list' | 'detail' } & ViewerRoles): SafeHtml {
  const drop = dropLabel(r, o);
  return html`${
    r.can_review
      ? html`<form method="post" action="${href(r)}/review" class="review">
    <input type="hidden" name="csrf" value="${o.csrf}">
    <input type="hidden" name="back" value="${o.back}">
    <label>Comment (optional) <input type="text" name="comment" maxlength="1000"></label>
    <button type="submit" name="decision" value="approve" class="approve">Approve</button>
    <button type="submit" name="decision" value="deny" class="deny">Deny</button>
  </form>`
      : ''
  }${
    drop
      ? html`<form method="post" action="${href(r)}/drop" class="drop">
    <input type="hidden" name="csrf" value="${o.csrf}">
    <input type="hidden" name="back" value="${o.back}">
    <button type="submit" class="drop">${drop}</button>
  </form>`
      : ''
  }`;
}

/** The facts of one request: who, what, why, how long, and where it stands. */
function facts(r: RequestView): SafeHtml {
  const reviewers = html`${tags(r.reviewers.roles)}`;
  return html`<dl class="grants">
    <dt>Requester</dt><dd class="requester">${r.requester.username}${r.requester.email ? html` <span class="muted">(${r.requester.email})</span>` : ''}</dd>
    <dt>Roles</dt><dd class="roles">${tags(r.roles)}</dd>
    <dt>State</dt><dd class="state">${r.state}</dd>
    <dt>Reason</dt><dd class="reason">${r.reason || '—'}</dd>
    <dt>Duration</dt><dd class="duration">${formatDuration(r.duration_ms)}</dd>
    <dt>Created</dt><dd class="created">${utcTime(r.created_at)}</dd>
    <dt>Approvals</dt><dd class="approvals">${r.approvals} / ${r.reviewers.approvals}</dd>
    <dt>Reviewer roles</dt><dd class="reviewer-roles">${reviewers}</dd>
    ${
      r.state === 'pending'
        ? html`<dt>Who can approve</dt><dd class="eligible">${r.eligible_reviewers.length ? r.eligible_reviewers.map((p) => html`<span class="tag reviewer">${p.username}</span> `) : html`<span class="muted">nobody holding a reviewer role has signed in yet</span>`}</dd>
    <dt>Pending until</dt><dd class="pending-until">${utcTime(r.pending_until)}</dd>`
        : ''
    }
    ${r.state === 'active' && r.expires_at ? html`<dt>Expires</dt><dd class="expires">${utcTime(r.expires_at)}</dd>` : ''}
    ${r.ended_at ? html`<dt>Ended</dt><dd class="ended">${utcTime(r.ended_at)}${r.ended_by ? html` by ${r.ended_by}` : ''}</dd>` : ''}
  </dl>`;
}

function item(r: RequestView, o: { csrf: string; own: boolean } & ViewerRoles): SafeHtml {
  return html`<li class="request" id="request-${r.id}" data-id="${r.id}" data-state="${r.state}">
  <div class="item">
    <p><a href="${href(r)}">${r.roles.join(', ')}</a> for <strong>${r.requester.username}</strong> · <span class="outcome">${r.state}</span></p>
    ${facts(r)}
  </div>
  ${actions(r, { ...o, back: 'list' })}
</li>`;
}

const list = (id: string, requests: RequestView[], o: { csrf: string; own: boolean } & ViewerRoles, empty: string) =>
  requests.length ? html`<ul class="catalogue" id="${id}">${requests.map((r) => item(r, o))}</ul>` : html`<p class="muted" id="${id}-empty">${empty}</p>`;

function askForm(o: RequestsPageOptions): SafeHtml {
  const needsReason = o.options.some((opt) => opt.requireReason);
  const chosen = new Set(o.form?.roles ?? (o.options.length === 1 ? [o.options[0].role] : []));
  const longest = Math.max(...o.options.map((opt) => opt.maxDurationMs));
  const picked = o.form?.duration ?? '';
  return html`<section class="card" id="ask">
  <h2>Ask for access</h2>
  <form method="post" action="/requests" id="request-form">
    <input type="hidden" name="csrf" value="${o.csrf}">
    <ul class="logins">
    ${o.options.map(
      (opt) => html`<li>
      <label><input type="checkbox" name="roles" value="${opt.role}"${chosen.has(opt.role) ? html` checked` : ''}> <strong>${opt.role}</strong></label>
      <span class="muted">up to ${formatDuration(opt.maxDurationMs)} · approved by ${opt.reviewers.approvals} of ${opt.reviewers.roles.join(', ')}${opt.requireReason ? ' · reason required' : ''}</span>
    </li>`,
    )}
    </ul>
    <p><label>Reason<br><textarea name="reason" id="request-reason" rows="3" cols="60" maxlength="1000" placeholder="Name the ticket: INC-123"${needsReason ? html` required` : ''}>${o.form?.reason ?? ''}</textarea></label></p>
    <p><label>Duration <select name="duration" id="request-duration">
      <option value=""${picked === '' ? html` selected` : ''}>the longest allowed${o.options.length === 1 ? ` (${formatDuration(longest)})` : ''}</option>
      ${DURATION_STEPS.filter(([, ms]) => ms < longest).map(([value]) => html`<option value="${value}"${picked === value ? html` selected` : ''}>${value}</option>`)}
    </select></label> <span class="muted">The time starts when the request is approved.</span></p>
    <button type="submit" id="request-submit">Request access</button>
  </form>
</section>`;
}

/** `/requests`: ask for access, review others' requests, and follow or end your own. */
export function requestsPage(o: RequestsPageOptions): string {
  const viewer = { csrf: o.csrf, baseRoles: o.baseRoles };
  return layout({
    title: 'Access requests',
    demo: o.demo,
    user: o.user,
    body: html`<section class="card">
  <h1>Access requests</h1>
  <p class="muted">Ask for a role for a while; reviewers approve it here, and it ends on its own. Times are UTC.</p>
  ${banners(o)}
</section>
${o.options.length ? askForm(o) : ''}
${
  o.toReview.length
    ? html`<section class="card" id="review">
  <h2>Waiting for your review</h2>
  ${list('to-review', o.toReview, { ...viewer, own: false }, '')}
</section>`
    : ''
}
<section class="card" id="mine">
  <h2>Your requests</h2>
  ${list('my-requests', o.mine, { ...viewer, own: true }, 'You have not asked for access yet.')}
</section>
${
  o.others.length
    ? html`<section class="card" id="recent">
  <h2>Recent decisions</h2>
  ${list('recent-requests', o.others, { ...viewer, own: false }, '')}
</section>`
    : ''
}`,
  });
}

/** `/requests/:id`: one request (the link notifications send), with its review and drop buttons. */
export function requestPage(o: PageBase & ViewerRoles & { request: RequestView; own: boolean }): string {
  const r = o.request;
  return layout({
    title: `Access request ${r.id}`,
    demo: o.demo,
    user: o.user,
    body: html`<section class="card request" id="request-${r.id}" data-id="${r.id}" data-state="${r.state}">
  <p><a href="/requests">← Access requests</a></p>
  <h1>${r.roles.join(', ')} for ${r.requester.username}</h1>
  ${banners(o)}
  ${facts(r)}
  ${actions(r, { csrf: o.csrf, own: o.own, baseRoles: o.baseRoles, back: 'detail' })}
</section>
${
  r.reviews.length
    ? html`<section class="card"><h2>Reviews</h2><ul class="catalogue" id="reviews">${r.reviews.map(
        (rev) =>
          html`<li class="review-entry"><span class="item"><strong>${rev.reviewer.username}</strong> <span class="outcome ${rev.decision === 'approve' ? 'success' : 'failure'}">${rev.decision}</span> ${utcTime(rev.at)}${rev.comment ? html` · <span class="comment">${rev.comment}</span>` : ''}</span></li>`,
      )}</ul></section>`
    : ''
}`,
  });
}
