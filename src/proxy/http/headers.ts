import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';
import { parseBearer } from '../../tokens/gateway-token.js';
import { HOP_BY_HOP } from '../hop-by-hop.js';
import { SANDBOX_CSP } from './apps.js';

/**
 * Request and response header rules of the app proxy:
 * - identity headers a client sends (X-Forwarded-User/Email/Groups/Preferred-Username,
 *   X-Auth-Request-*, Gatehouse-*, and an app's configured headers) are removed, then set from
 *   the verified identity, so an app can trust them;
 * - hop-by-hop headers are not forwarded (RFC 9110 §7.6.1), including those named in Connection;
 * - Gatehouse's own cookies (gateway session, app session, login state) never reach an app,
 *   and an app cannot set cookies under those names;
 * - every header whose name contains "_" is dropped (as nginx does by default): WSGI, CGI and Rack
 *   fold "_" and "-" into the same HTTP_* key, so `X_Forwarded_User` would pass for ours;
 * - an Authorization header carrying a Gatehouse-issued token is dropped, whichever credential won.
 */

/** Answered by the gateway itself (Node sends 100 Continue), so never forwarded. */
const ANSWERED_HERE = 'expect';
const IDENTITY = new Set(['x-forwarded-user', 'x-forwarded-email', 'x-forwarded-groups', 'x-forwarded-preferred-username', 'x-forwarded-access-token']);
/** Headers we set ourselves for the upstream (client values replaced). */
const FORWARDING = new Set(['host', 'x-forwarded-for', 'x-forwarded-host', 'x-forwarded-proto', 'x-forwarded-prefix', 'forwarded', 'x-real-ip']);

export const isIdentityHeader = (name: string): boolean => IDENTITY.has(name) || name.startsWith('x-auth-request-') || name.startsWith('gatehouse-');

/** Cookie names Gatehouse owns, with or without the `__Host-` prefix. */
export const isGatehouseCookie = (name: string): boolean => /^(?:__Host-)?gatehouse_/.test(name.trim());

/** The Cookie header without Gatehouse's cookies; other cookies are passed through byte for byte. */
export function stripGatehouseCookies(header: string): string | undefined {
  if (!header.includes('gatehouse_')) return header;
  const kept = header.split(';').filter((pair) => !isGatehouseCookie(pair.slice(0, pair.indexOf('=') === -1 ? undefined : pair.indexOf('='))));
  const joined = kept
    .map((p) => p.trim())
    .filter(Boolean)
    .join('; ');
  return joined || undefined;
}

/**
 * Whether an Authorization header carries a token Gatehouse issued (a JWT whose `iss` is the
 * gateway), verified or not: such a header is a Gatehouse credential and never goes upstream.
 */
export function isGatewayAuthorization(value: string | undefined, issuer: string): boolean {
  const parts = parseBearer(value)?.split('.');
  if (parts?.length !== 3) return false;
  try {
    const claims = JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8')) as { iss?: unknown };
    return claims.iss === issuer;
  } catch {
    return false;
  }
}

/** A list value in an identity header: "," and "%" inside an item are percent-encoded, so the list splits back exactly. */
export const listItem = (item: string): string => item.replace(/[%,]/g, (c) => (c === '%' ? '%25' : '%2C'));

export interface UpstreamHeaderOptions {
  /** Header values from identity, lowercased names; set after stripping. */
  identity: [string, string][];
  /** The app's configured header names (lowercased), stripped even when absent from `identity`. */
  configured: Set<string>;
  host: string;
  forwardedFor: string;
  forwardedHost: string;
  forwardedProto: string;
  forwardedPrefix?: string;
  /** Keep `Connection: upgrade` / `Upgrade` (WebSocket handshakes). */
  upgrade?: boolean;
  /** Drop Authorization (it carried a gateway token, not the app's own credentials). */
  dropAuthorization?: boolean;
}

export function upstreamRequestHeaders(incoming: IncomingHttpHeaders, o: UpstreamHeaderOptions): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  const named = connectionTokens(incoming.connection);
  for (const name in incoming) {
    if (name.includes('_') || HOP_BY_HOP.has(name) || FORWARDING.has(name) || name === ANSWERED_HERE || isIdentityHeader(name) || o.configured.has(name))
      continue;
    if (named?.has(name)) continue;
    if (name === 'authorization' && o.dropAuthorization) continue;
    const value = incoming[name];
    if (name === 'cookie') {
      const cookie = stripGatehouseCookies(value as string);
      if (cookie) out.cookie = cookie;
      continue;
    }
    out[name] = value;
  }
  if (o.upgrade) {
    out.connection = 'upgrade';
    out.upgrade = incoming.upgrade;
  }
  out.host = o.host;
  out['x-forwarded-for'] = o.forwardedFor;
  out['x-forwarded-host'] = o.forwardedHost;
  out['x-forwarded-proto'] = o.forwardedProto;
  if (o.forwardedPrefix) out['x-forwarded-prefix'] = o.forwardedPrefix;
  for (const [name, value] of o.identity) out[name] = value;
  return out;
}

export interface ResponseHeaderOptions {
  /** Rewrites a Location value (redirects to the upstream become redirects to the public URL). */
  rewriteLocation?: (location: string) => string;
  /** Append SANDBOX_CSP (a second policy: both are enforced, so the app's own cannot loosen it). */
  sandbox?: boolean;
}

/** An upstream's response headers, lowercased; undici gives a lone Set-Cookie as a string. */
export type ResponseHeaders = Record<string, string | string[] | undefined>;

export function downstreamResponseHeaders(incoming: ResponseHeaders, o: ResponseHeaderOptions): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  const named = connectionTokens(incoming.connection as string | undefined);
  for (const name in incoming) {
    if (HOP_BY_HOP.has(name) || named?.has(name)) continue;
    const value = incoming[name];
    if (name === 'set-cookie') {
      const kept = (Array.isArray(value) ? value : [value!]).filter((c) => !isGatehouseCookie(c.slice(0, c.indexOf('='))));
      if (kept.length) out[name] = kept;
      continue;
    }
    if (name === 'location' && o.rewriteLocation && typeof value === 'string') {
      out.location = o.rewriteLocation(value);
      continue;
    }
    out[name] = value;
  }
  if (o.sandbox) {
    const own = out['content-security-policy'];
    const policies: string[] = own === undefined ? [] : Array.isArray(own) ? own : [String(own)];
    (out as Record<string, string[]>)['content-security-policy'] = [...policies, SANDBOX_CSP];
  }
  return out;
}

function connectionTokens(value: string | undefined): Set<string> | undefined {
  if (!value) return undefined;
  const tokens = value
    .toLowerCase()
    .split(',')
    .map((t) => t.trim())
    .filter((t) => t && t !== 'close' && !HOP_BY_HOP.has(t));
  return tokens.length ? new Set(tokens) : undefined;
}

/**
 * Header values come from identity (usernames, emails, group names): anything outside printable
 * ASCII is percent-encoded, so a value can neither break the header nor be rejected by Node.
 */
export function headerSafe(value: string): string {
  return /[^\x20-\x7e]/.test(value) ? value.replace(/[^\x20-\x7e]/gu, percentEncode) : value;
}

function percentEncode(c: string): string {
  try {
    return encodeURIComponent(c);
  } catch {
    return '%EF%BF%BD'; // a lone surrogate: U+FFFD
  }
}
