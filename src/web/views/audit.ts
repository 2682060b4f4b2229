import { queryToParams, type AuditQuery } from '../../audit/query.js';
import type { AuditPage } from '../../audit/reader.js';
import type { AuditEvent } from '../../audit/sink.js';
import { html, type SafeHtml } from './html.js';
import { layout } from './layout.js';

/** Types whose session_id names a recorded session (SSH, Kubernetes exec/attach), linked to its recording. */
const RECORDED_TYPES = /^(ssh|kube|session)\./;

export const recordingHref = (event: AuditEvent): string | undefined =>
  event.session_id && RECORDED_TYPES.test(event.type) ? `/recordings/${encodeURIComponent(event.session_id)}` : undefined;

const href = (path: string, params: URLSearchParams) => {
  const qs = params.toString();
  return qs ? `${path}?${qs}` : path;
};

/** ISO instant → the value a datetime-local input shows (UTC, to the second). */
const inputTime = (iso?: string) => (iso ? iso.slice(0, 19) : '');

function summary(event: AuditEvent): string {
  const parts: string[] = [];
  if (event.reason) parts.push(event.reason);
  for (const key of ['cluster', 'node', 'app', 'connector'] as const) if (event[key]) parts.push(`${key} ${event[key]}`);
  if (event.remote_addr) parts.push(`from ${event.remote_addr}`);
  return parts.join(' · ');
}

export interface AuditPageOptions {
  demo: boolean;
  username: string;
  auditor: boolean;
  query: AuditQuery;
  page?: AuditPage;
  error?: string;
}

export function auditPage(o: AuditPageOptions): string {
  const { query } = o;
  const filters = { ...query, cursor: undefined, limit: undefined, id: undefined };
  const base = queryToParams(filters);
  const nextParams = queryToParams({ ...filters, cursor: o.page?.next_cursor ?? undefined });
  const exportParams = (format: string) => {
    const p = queryToParams({ ...filters, order: 'asc' });
    p.set('format', format);
    return p;
  };
  const outcomeOption = (value: string, label: string) =>
    html`<option value="${value}"${query.outcome === value || (!query.outcome && !value) ? html` selected` : ''}>${label}</option>`;
  return layout({
    title: 'Audit log',
    demo: o.demo,
    user: o.username,
    body: html`<section class="card">
  <h1>Audit log</h1>
  <p class="muted">${o.auditor ? 'Every event, searched on the server.' : html`Your own events (signed in as <strong>${o.username}</strong>).`} Times are UTC.</p>
  <form method="get" action="/audit" class="filters" id="audit-filters">
    <label>From <input type="datetime-local" step="1" name="from" value="${inputTime(query.from)}"></label>
    <label>To <input type="datetime-local" step="1" name="to" value="${inputTime(query.to)}"></label>
    <label>Type <input type="text" name="type" placeholder="user.login, session.*" value="${(query.types ?? []).join(', ')}"></label>
    <label>User ${
      o.auditor
        ? html`<input type="text" name="user" value="${query.user ?? ''}">`
        : html`<input type="text" value="${o.username}" disabled title="You can read only your own events">`
    }</label>
    <label>Outcome <select name="outcome">${outcomeOption('', 'any')}${outcomeOption('success', 'success')}${outcomeOption('failure', 'failure')}</select></label>
    <label>Text <input type="search" name="q" value="${query.q ?? ''}" placeholder="anything in the event"></label>
    <label>Order <select name="order"><option value="desc"${query.order === 'desc' ? html` selected` : ''}>newest first</option><option value="asc"${query.order === 'asc' ? html` selected` : ''}>oldest first</option></select></label>
    <div class="actions"><button type="submit" id="audit-search">Search</button> <a href="/audit">Reset</a></div>
  </form>
</section>
<section class="card">
  ${o.error ? html`<p class="error-text" id="audit-error" role="alert">${o.error}</p>` : ''}
  ${o.page ? results(o.page) : ''}
  <nav class="pager">
    ${query.cursor ? html`<a id="audit-first" href="${href('/audit', base)}">First page</a>` : ''}
    ${o.page?.has_more ? html`<a id="audit-next" class="button" href="${href('/audit', nextParams)}">${query.order === 'asc' ? 'Newer events' : 'Older events'} →</a>` : ''}
  </nav>
  <p class="muted">Export these results: <a id="export-csv" href="${href('/api/v1/audit/events', exportParams('csv'))}">CSV</a> · <a id="export-ndjson" href="${href('/api/v1/audit/events', exportParams('ndjson'))}">NDJSON</a></p>
</section>`,
  });
}

function results(page: AuditPage): SafeHtml {
  if (!page.events.length) return html`<p id="audit-empty">No events match.</p>`;
  return html`<table class="events" id="audit-events">
  <thead><tr><th>Time (UTC)</th><th>Type</th><th>Outcome</th><th>User</th><th>Summary</th><th></th></tr></thead>
  <tbody>
  ${page.events.map((e) => {
    const recording = recordingHref(e);
    return html`<tr class="event" data-id="${e.id}">
    <td><time datetime="${e.time}">${e.time.slice(0, 10)} ${e.time.slice(11, 23)}</time></td>
    <td><code>${e.type}</code></td>
    <td><span class="outcome ${e.outcome}">${e.outcome}</span></td>
    <td class="user">${e.user ?? '—'}</td>
    <td>${summary(e)}</td>
    <td class="links"><a class="view" href="/audit/${e.id}">details</a>${recording ? html` <a class="recording" href="${recording}">recording</a>` : ''}</td>
  </tr>`;
  })}
  </tbody>
</table>`;
}

export function auditEventPage(o: { demo: boolean; username: string; event: AuditEvent }): string {
  const e = o.event;
  const recording = recordingHref(e);
  const row = (label: string, value: unknown, id?: string) =>
    value === undefined || value === null || value === '' ? '' : html`<dt>${label}</dt><dd${id ? html` id="${id}"` : ''}>${String(value)}</dd>`;
  return layout({
    title: `Audit event ${e.id}`,
    demo: o.demo,
    user: o.username,
    body: html`<section class="card">
  <p><a href="/audit">← Audit log</a></p>
  <h1><code>${e.type}</code> <span class="outcome ${e.outcome}">${e.outcome}</span></h1>
  <dl class="facts" id="event-fields">
    ${row('Id', e.id, 'event-id')}
    ${row('Time (UTC)', e.time)}
    ${row('Code', e.code)}
    ${row('User', e.user, 'event-user')}
    ${row('Connector', e.connector)}
    ${row('Roles', e.roles?.join(', '))}
    ${row('Session', e.session_id, 'event-session')}
    ${row('Cluster', e.cluster)}
    ${row('Node', e.node)}
    ${row('App', e.app)}
    ${row('Reason', e.reason)}
    ${row('Remote address', e.remote_addr)}
    ${row('User agent', e.user_agent)}
    ${row('Request id', e.request_id)}
  </dl>
  ${recording ? html`<p><a class="button" id="event-recording" href="${recording}">Open the session recording</a></p>` : ''}
</section>
${e.details ? html`<section class="card"><h2>Details</h2><pre id="event-details">${JSON.stringify(e.details, null, 2)}</pre></section>` : ''}
<section class="card">
  <h2>Chain</h2>
  <dl class="facts"><dt>Previous hash</dt><dd><code>${e.prev_hash}</code></dd><dt>Hash</dt><dd><code id="event-hash">${e.hash}</code></dd></dl>
</section>`,
  });
}
