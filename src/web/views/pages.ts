import type { JWTPayload } from 'jose';
import type { Session } from '../../core/types.js';
import { catalogueSections, type CatalogueView } from './catalogue.js';
import { html, type SafeHtml } from './html.js';
import { layout } from './layout.js';

export interface PageOptions {
  demo: boolean;
}

export function loginPage(options: PageOptions & { connectors: { id: string; name: string }[]; returnTo: string }): string {
  const query = options.returnTo === '/' ? '' : `?return_to=${encodeURIComponent(options.returnTo)}`;
  return layout({
    title: 'Sign in',
    demo: options.demo,
    body: html`<section class="card narrow">
  <h1>Sign in</h1>
  <p>Choose how to sign in.</p>
  <ul class="connectors">
    ${options.connectors.map((c) => html`<li><a class="button" id="connector-${c.id}" href="/login/${encodeURIComponent(c.id)}${query}">${c.name}</a></li>`)}
  </ul>
</section>`,
  });
}

/** GET /logout: a confirmation whose form POSTs with the CSRF token (a cross-site GET cannot sign anyone out). */
export function logoutPage(options: PageOptions & { user: string; csrf: string }): string {
  return layout({
    title: 'Sign out',
    demo: options.demo,
    body: html`<section class="card narrow">
  <h1>Sign out</h1>
  <p>Sign out of Gatehouse as <strong>${options.user}</strong>?</p>
  <form method="post" action="/logout" id="logout-form">
    <input type="hidden" name="csrf" value="${options.csrf}">
    <button type="submit">Sign out</button>
  </form>
</section>`,
  });
}

/** "My access": who you are, then the catalogue of what you can reach (./catalogue.ts), then the token claims. */
export function homePage(options: PageOptions & { session: Session; tokenClaims: JWTPayload; catalogue: CatalogueView }): string {
  const { identity } = options.session;
  return layout({
    title: 'My access',
    demo: options.demo,
    user: identity.username,
    body: html`<section class="card">
  <h1>My access</h1>
  <dl class="facts">
    <dt>User</dt><dd id="username">${identity.username}</dd>
    <dt>Email</dt><dd id="email">${identity.email ?? '—'}</dd>
    <dt>Connector</dt><dd id="connector">${identity.connector}</dd>
    <dt>Upstream groups</dt><dd id="groups">${identity.groups.length ? identity.groups.map((g) => html`<span class="tag">${g}</span> `) : '—'}</dd>
    <dt>Roles</dt><dd id="roles">${options.catalogue.roles.length ? options.catalogue.roles.map((r) => html`<span class="tag">${r}</span> `) : '—'}</dd>
    <dt>Session expires</dt><dd id="session-expires">${utcTime(options.session.expiresAt)}</dd>
  </dl>
</section>
${catalogueSections(options.catalogue)}
<section class="card">
  <details>
    <summary><h2>Gateway token claims</h2></summary>
    <p class="muted">A token Gatehouse signs for you, verifiable with <a href="/.well-known/jwks.json">our JWKS</a>.</p>
    <pre id="token-claims">${JSON.stringify(options.tokenClaims, null, 2)}</pre>
  </details>
</section>
<script src="/static/copy-command.js"></script>`,
  });
}

/** `2026-01-31 17:05 UTC`, with the exact instant in the `datetime` attribute. */
function utcTime(ms: number): SafeHtml {
  const iso = new Date(ms).toISOString();
  return html`<time datetime="${iso}">${iso.slice(0, 10)} ${iso.slice(11, 16)} UTC</time>`;
}

function errorHeading(status: number): string {
  if (status === 403) return 'Access denied';
  if (status === 404) return 'Not found';
  return 'Something went wrong';
}

export function errorPage(options: PageOptions & { status: number; code: string; message: string; requestId?: string }): string {
  return layout({
    title: 'Error',
    demo: options.demo,
    body: html`<section class="card narrow error">
  <h1>${errorHeading(options.status)}</h1>
  <p class="message">${options.message}</p>
  <p class="muted">Error code <code id="error-code">${options.code}</code>${options.requestId ? html` · request <code>${options.requestId}</code>` : ''}</p>
  <p><a href="/login">Sign in again</a></p>
</section>`,
  });
}
