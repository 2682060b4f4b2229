import type { RecordingMeta } from '../../recording/recorder.js';
import { html } from './html.js';
import { layout } from './layout.js';

const when = (iso?: string) => (iso ? iso.replace('T', ' ').replace(/\.\d+Z$/, ' UTC') : '—');
const duration = (m: RecordingMeta) => (m.end ? `${Math.max(0, Math.round((Date.parse(m.end) - Date.parse(m.start)) / 1000))} s` : 'in progress or cut off');

export function recordingsPage(options: { demo: boolean; user: string; recordings: RecordingMeta[]; query: Record<string, string>; all: boolean }): string {
  const q = options.query;
  return layout({
    title: 'Session recordings',
    demo: options.demo,
    user: options.user,
    body: html`<section class="card">
  <h1>Session recordings</h1>
  <p>${options.all ? 'Every recorded SSH session (you may read all of them).' : 'Your recorded SSH sessions.'} Recordings are asciicast v2: download one and play it with <code>asciinema play</code> or <code>gatehouse play</code>.</p>
  <form method="get" action="/recordings" class="filters">
    <label>Text <input name="q" value="${q.q ?? ''}" placeholder="search the output"></label>
    ${options.all ? html`<label>User <input name="user" value="${q.user ?? ''}"></label>` : ''}
    <label>Node <input name="node" value="${q.node ?? ''}"></label>
    <label>From <input name="from" type="date" value="${q.from ?? ''}"></label>
    <label>To <input name="to" type="date" value="${q.to ?? ''}"></label>
    <button type="submit">Search</button>
  </form>
  <table class="recordings">
    <thead><tr><th>Started</th><th>User</th><th>Login@node</th><th>Command</th><th>Duration</th><th>Exit</th></tr></thead>
    <tbody>
    ${options.recordings.map(
      (m) => html`<tr>
      <td><a href="/recordings/${m.id}">${when(m.start)}</a></td>
      <td>${m.user}</td>
      <td>${m.login}@${m.node}</td>
      <td><code>${m.command ?? 'shell'}</code></td>
      <td>${duration(m)}</td>
      <td>${m.exit_code ?? m.exit_signal ?? '—'}</td>
    </tr>`,
    )}
    </tbody>
  </table>
  ${options.recordings.length ? '' : html`<p id="no-recordings">No recordings match.</p>`}
</section>`,
  });
}

export function recordingPage(options: { demo: boolean; user: string; meta: RecordingMeta }): string {
  const m = options.meta;
  return layout({
    title: `Recording ${m.id}`,
    demo: options.demo,
    user: options.user,
    head: html`<link rel="stylesheet" href="/static/asciinema-player.css">`,
    body: html`<section class="card">
  <h1>${m.user} as ${m.login}@${m.node}</h1>
  <dl class="facts">
    <dt>Session</dt><dd><code id="session-id">${m.id}</code></dd>
    <dt>Started</dt><dd>${when(m.start)}</dd>
    <dt>Ended</dt><dd>${when(m.end)}</dd>
    <dt>Command</dt><dd><code>${m.command ?? 'shell'}</code></dd>
    <dt>Exit</dt><dd>${m.exit_code ?? m.exit_signal ?? '—'}</dd>
    <dt>SHA-256</dt><dd><code>${m.sha256 ?? '—'}</code></dd>
  </dl>
  <div id="player" data-src="/api/v1/recordings/${m.id}" data-cols="${m.cols}" data-rows="${m.rows}"></div>
  <p><a href="/api/v1/recordings/${m.id}" download="${m.id}.cast">Download .cast</a> · <a href="/recordings">All recordings</a></p>
</section>
<script src="/static/asciinema-player.min.js"></script>
<script src="/static/recording-player.js"></script>`,
  });
}
