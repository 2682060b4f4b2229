import type { RecordingMeta } from '../../recording/recorder.js';
import { html, type SafeHtml } from './html.js';

/**
 * The "My access" catalogue: each kind of thing the person can reach, with a way in. The SSH
 * lines are the ones that work with the ssh config `gatehouse ssh cert` / `gatehouse login`
 * write (src/cli/ssh-config.ts: jump host `gatehouse-proxy`, node aliases `<node>.gatehouse`).
 */
export const SSH_JUMP_HOST = 'gatehouse-proxy';
export const SSH_HOST_SUFFIX = '.gatehouse';

export const sshJumpLine = (login: string, node: string): string => `ssh -J ${SSH_JUMP_HOST} ${login}@${node}${SSH_HOST_SUFFIX}`;
export const gatehouseSshLine = (login: string, node: string): string => `gatehouse ssh ${login}@${node}`;
export const kubeLoginLine = (cluster: string): string => `gatehouse kube login ${cluster}`;
export const dbLoginLine = (database: string): string => `gatehouse db login ${database}`;
export const terminalLink = (login: string, node: string): string => `/terminal/${encodeURIComponent(node)}?login=${encodeURIComponent(login)}`;

export interface CatalogueView {
  /** The gateway's public URL, for the one-time `gatehouse login --server` line. */
  server: string;
  roles: string[];
  /** `url` is absent for an app guarded only through forward-auth (no address of ours to open). */
  apps: { name: string; url?: string }[];
  nodes: { name: string; labels: Record<string, string>; logins: string[] }[];
  clusters: { name: string }[];
  /** `users`/`names` as the roles allow them (patterns included); `connect`: a `gatehouse db connect` line per db user that is a name. */
  databases: { name: string; protocol: string; labels: Record<string, string>; users: string[]; names: string[]; connect: string[] }[];
  /** The person's own latest recordings, newest first. */
  recordings: RecordingMeta[];
}

/** A command to paste, with a copy button (src/web/static/copy-command.js). */
const command = (text: string): SafeHtml =>
  html`<span class="command"><code>${text}</code><button type="button" class="copy" data-copy="${text}" aria-label="Copy: ${text}">Copy</button></span>`;

/** Only http(s) addresses become links (app URLs are built from the config, but a view never trusts that). */
const linkable = (url: string | undefined): url is string => url !== undefined && /^https?:\/\//i.test(url);

const when = (iso: string) => iso.replace('T', ' ').replace(/(:\d\d)\.\d+Z$/, '$1 UTC');

function appsCard(apps: CatalogueView['apps']): SafeHtml {
  return html`<section class="card" id="apps">
  <h2>Apps</h2>
  <ul class="catalogue">
    ${apps.map(
      (a) => html`<li data-app="${a.name}">
      <span class="item"><strong>${a.name}</strong>${a.url ? html` <span class="muted">${a.url}</span>` : html` <span class="muted">through your own proxy (forward-auth)</span>`}</span>
      ${linkable(a.url) ? html`<a class="button open" href="${a.url}">Open</a>` : ''}
    </li>`,
    )}
  </ul>
</section>`;
}

function cliSetup(server: string): SafeHtml {
  return html`<p class="muted setup">From your own terminal, once: ${command(`gatehouse login --server ${server}`)}
  It also writes <code>~/.gatehouse/ssh/config</code>: put <code>Include ~/.gatehouse/ssh/config</code> at the top of <code>~/.ssh/config</code> for plain <code>ssh</code>.</p>`;
}

function nodesCard(nodes: CatalogueView['nodes'], server: string): SafeHtml {
  return html`<section class="card" id="ssh-nodes">
  <h2>SSH nodes</h2>
  <p class="muted">Open a terminal in the browser, or use your own SSH client. Sessions are recorded.</p>
  ${cliSetup(server)}
  ${nodes.map(
    (n) => html`<div class="node" data-node="${n.name}">
    <h3>${n.name} ${Object.entries(n.labels).map(([k, v]) => html`<span class="tag label">${k}=${v}</span>`)}</h3>
    <ul class="logins">
      ${n.logins.map(
        (l) => html`<li data-login="${l}">
        <a class="tag terminal" href="${terminalLink(l, n.name)}" title="Open a terminal in the browser">${l}@${n.name}</a>
        <span class="commands">${command(sshJumpLine(l, n.name))} ${command(gatehouseSshLine(l, n.name))}</span>
      </li>`,
      )}
    </ul>
  </div>`,
  )}
</section>`;
}

function clustersCard(clusters: CatalogueView['clusters'], server: string, withSetup: boolean): SafeHtml {
  return html`<section class="card" id="clusters">
  <h2>Kubernetes clusters</h2>
  <p class="muted">Adds a kubectl context of the same name, with tokens from Gatehouse.</p>
  ${withSetup ? cliSetup(server) : ''}
  <ul class="catalogue">
    ${clusters.map((c) => html`<li data-cluster="${c.name}"><span class="item"><strong>${c.name}</strong></span> ${command(kubeLoginLine(c.name))}</li>`)}
  </ul>
</section>`;
}

const tags = (values: string[]) => (values.length ? values.map((v) => html`<span class="tag">${v}</span> `) : html`<span class="muted">none</span>`);

function databasesCard(databases: CatalogueView['databases'], server: string, withSetup: boolean): SafeHtml {
  return html`<section class="card" id="databases">
  <h2>Databases</h2>
  <p class="muted">Short-lived client certificates from Gatehouse; every statement is audited and sessions are recorded.</p>
  ${withSetup ? cliSetup(server) : ''}
  ${databases.map(
    (d) => html`<div class="database" data-database="${d.name}">
    <h3>${d.name} <span class="tag">${d.protocol}</span> ${Object.entries(d.labels).map(([k, v]) => html`<span class="tag label">${k}=${v}</span>`)}</h3>
    <dl class="grants"><dt>db users</dt><dd class="db-users">${tags(d.users)}</dd><dt>db names</dt><dd class="db-names">${tags(d.names)}</dd></dl>
    <ul class="catalogue">
      <li><span class="item">Certificate and <code>~/.pg_service.conf</code> entry</span> ${command(dbLoginLine(d.name))}</li>
      ${d.connect.map((line) => html`<li><span class="item">psql</span> ${command(line)}</li>`)}
    </ul>
  </div>`,
  )}
</section>`;
}

function recordingsCard(recordings: RecordingMeta[]): SafeHtml {
  return html`<section class="card" id="my-recordings">
  <h2>My recordings</h2>
  ${
    recordings.length
      ? html`<ul class="catalogue">
    ${recordings.map(
      (m) => html`<li data-recording="${m.id}"><a href="/recordings/${encodeURIComponent(m.id)}">${m.login}@${m.node}</a>
      <span class="muted">${when(m.start)} · ${m.command ?? 'shell'}${m.end ? '' : ' · in progress'}</span></li>`,
    )}
  </ul>`
      : html`<p id="no-recordings" class="muted">No recordings yet: your SSH and database sessions are recorded and show up here.</p>`
  }
  <p><a href="/recordings">All recordings</a></p>
</section>`;
}

/** The sections of the catalogue that have something in them; a note on whom to ask when none does. */
export function catalogueSections(view: CatalogueView): SafeHtml {
  const empty = !view.apps.length && !view.nodes.length && !view.clusters.length && !view.databases.length;
  if (empty && !view.recordings.length) {
    return html`<section class="card" id="catalogue-empty">
  <h2>Nothing to open yet</h2>
  <p>Your roles (${view.roles.length ? view.roles.join(', ') : 'none'}) grant no apps, SSH logins, Kubernetes clusters or databases.
  Ask a Gatehouse admin for a role that does: name the app, the node and login, the cluster, or the database and db user you need.</p>
</section>`;
  }
  return html`${view.apps.length ? appsCard(view.apps) : ''}
${view.nodes.length ? nodesCard(view.nodes, view.server) : ''}
${view.clusters.length ? clustersCard(view.clusters, view.server, !view.nodes.length) : ''}
${view.databases.length ? databasesCard(view.databases, view.server, !view.nodes.length && !view.clusters.length) : ''}
${view.nodes.length || view.databases.length || view.recordings.length ? recordingsCard(view.recordings) : ''}`;
}
