import type { IncomingMessage } from 'node:http';
import type { HttpApp } from './apps.js';
import type { ForwardTarget } from './forward.js';
import { isGatewayAuthorization, upstreamRequestHeaders } from './headers.js';
import type { Decision } from './identity.js';

/** What the upstream gets: path (prefix stripped when asked), headers, and how redirects come back. */
export type UpstreamTargets = (req: IncomingMessage, app: HttpApp, decision: Decision, upgrade: boolean) => ForwardTarget;

export function createUpstreamTargets(o: { publicUrl: string; trustProxyHops: number; issuerUrl: string }): UpstreamTargets {
  const proto = new URL(o.publicUrl).protocol.slice(0, -1);
  return (req, app, decision, upgrade) => {
    const url = req.url ?? '/';
    const up = app.upstream!;
    const strip = app.path && app.config.strip_prefix;
    const path = strip ? `/${url.slice(app.path!.length)}` : url;
    const rewriteHost = app.config.rewrite.host;
    // Never the client's Host: the public host comes from config (a path app's Host is anything a client typed).
    const host = rewriteHost === 'upstream' ? up.host : rewriteHost === 'preserve' ? app.forwardedHost : rewriteHost;
    const remote = req.socket.remoteAddress ?? '';
    const xff = req.headers['x-forwarded-for'];
    const origin = app.origin;
    return {
      app,
      path,
      headers: upstreamRequestHeaders(req.headers, {
        identity: decision.headers,
        configured: app.configuredHeaders,
        host,
        forwardedFor: o.trustProxyHops > 0 && xff ? `${xff}, ${remote}` : remote,
        forwardedHost: app.forwardedHost,
        forwardedProto: proto,
        forwardedPrefix: app.path,
        upgrade,
        // A Gatehouse token never travels on, even when a cookie was the credential that won.
        dropAuthorization: decision.viewer.bearer || isGatewayAuthorization(req.headers.authorization, o.issuerUrl),
      }),
      sandbox: app.sandboxed,
      rewriteLocation: app.config.rewrite.redirects
        ? (location) => rewriteLocation(location, { upstream: up, sentHost: host, origin, prefix: strip ? app.path : undefined })
        : undefined,
    };
  };
}

/** Redirects that point at the upstream (or at the Host we sent it) come back to the public URL. */
export function rewriteLocation(location: string, o: { upstream: URL; sentHost: string; origin: string; prefix?: string }): string {
  const withPrefix = (path: string) => (o.prefix ? o.prefix + path.slice(1) : path);
  if (location.startsWith('/') && !location.startsWith('//')) return withPrefix(location);
  let url: URL;
  try {
    url = new URL(location);
  } catch {
    return location;
  }
  if (url.host !== o.upstream.host && url.host !== o.sentHost) return location;
  return o.origin + withPrefix(url.pathname) + url.search + url.hash;
}
