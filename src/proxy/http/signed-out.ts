import type { IncomingHttpHeaders } from 'node:http';
import { redirectRejected, redirectTarget } from '../../core/redirect-target.js';
import type { HttpApp } from './apps.js';

/**
 * Where forward-auth sends a signed-out browser when the proxy asks for `?signed_out=redirect`
 * (Traefik `forwardAuth`, Caddy `forward_auth`: they pass the answer to the browser as is, so a 401
 * would strand it). The original URL comes from `X-Forwarded-Proto`, `-Host` and `-Uri`. Anyone
 * can send those, so they are never trusted, only checked: the URL must pass the one redirect
 * validator with the gateway's own origin and, with `?app=`, that app's host as the only targets.
 *
 * - on the gateway's origin: `<public_url>/login?return_to=<path>`;
 * - on the app's host: that host's `/.gatehouse/start?rd=<path>`, the app-cookie hand-off, which
 *   signs in at the gateway when needed (the gateway cookie never reaches an app host, so sending
 *   the browser straight to `/login` would bring it back without a credential, again and again).
 *
 * Returns undefined (answer 401) for what is not a browser navigation (`X-Forwarded-Method` other
 * than GET/HEAD, no `Accept: text/html`) or when the proxy does not say where the browser was;
 * throws `return_to_rejected` when the forwarded URL fails the check.
 */
export function signedOutRedirect(headers: IncomingHttpHeaders, publicUrl: string, app: HttpApp | undefined): string | undefined {
  const method = (single(headers['x-forwarded-method']) ?? 'GET').toUpperCase();
  if ((method !== 'GET' && method !== 'HEAD') || !(headers.accept ?? '').includes('text/html')) return undefined;
  const proto = single(headers['x-forwarded-proto']);
  const host = single(headers['x-forwarded-host']);
  const uri = single(headers['x-forwarded-uri']);
  if (proto === undefined || host === undefined || uri === undefined) return undefined;
  const what = 'The forwarded address (X-Forwarded-Proto, -Host, -Uri)';
  // One plain value each: a list (`a, b`), a userinfo or a path in the host is refused outright.
  if (!/^https?$/i.test(proto) || !HOST.test(host) || !uri.startsWith('/')) throw redirectRejected(what);
  const allowedHosts = app?.publicHost ? [app.publicHost] : [];
  const checked = new URL(redirectTarget(`${proto.toLowerCase()}://${host}${uri}`, { base: publicUrl, allowedHosts }, { what }), publicUrl);
  const path = checked.pathname + checked.search;
  if (checked.origin === new URL(publicUrl).origin) return `${publicUrl}/login?return_to=${encodeURIComponent(path)}`;
  return `${checked.origin}/.gatehouse/start?rd=${encodeURIComponent(path)}`;
}

const HOST = /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$/;

const single = (value: string | string[] | undefined): string | undefined => (Array.isArray(value) ? undefined : value);
