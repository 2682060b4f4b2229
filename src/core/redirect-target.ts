import { GatehouseError } from './errors.js';
import { isLoopbackHost } from './hosts.js';

/**
 * The one redirect-target check. Every place that sends a browser somewhere it was told to go
 * (login `return_to`, the login completion, the host-app sign-in hand-off and its `rd`, logout,
 * the device page, SAML RelayState) calls `redirectTarget`, and redirects to what it returns.
 *
 * It enforces:
 * - a string of at most 2048 characters, with no control character, DEL or backslash (browsers
 *   drop tabs/newlines and read `\` as `/`), nor any in the path once percent-decoded;
 * - either a path starting with exactly one `/`, or an absolute `http(s)://` URL (no
 *   scheme-relative `//host`, no `https:host`, no `javascript:`);
 * - resolved with the WHATWG URL parser against `base`, the result must be `base`'s origin, or
 *   an absolute https URL (http only on loopback) without credentials on an allowed host;
 * - the normalised path must not start with `//` (`/..//host`, `/%2e%2e//host` normalise to that),
 *   not even once percent-decoded (`/%2e%2e%2f/host`, `/%252e%252e//host`);
 * - the value returned is the normalised serialisation (path + query + fragment for our origin,
 *   the full href otherwise), checked once more to resolve to the same URL.
 *
 * It lives in core because the web layer and the app proxy (which must not import the web layer)
 * both use it; allowed hosts are passed in, never looked up here.
 */
export interface RedirectPolicy {
  /** The origin relative targets resolve against (the public URL, or an app's own origin). */
  base: string;
  /** Hosts other than base's that absolute targets may name; `*.example.com` matches subdomains. */
  allowedHosts?: readonly string[];
}

export const MAX_REDIRECT_LENGTH = 2048;
// eslint-disable-next-line no-control-regex -- control characters are exactly what we refuse
const FORBIDDEN = /[\u0000-\u001f\u007f\\]/;

export const redirectRejected = (what = 'return_to') =>
  new GatehouseError('return_to_rejected', `${what} must be a path on this gateway or an allowed host.`, { status: 400 });

export function redirectTarget(value: unknown, policy: RedirectPolicy, options: { fallback?: string; what?: string } = {}): string {
  if (value === undefined || value === null || value === '') return options.fallback ?? '/';
  const rejected = () => redirectRejected(options.what);
  if (typeof value !== 'string' || value.length > MAX_REDIRECT_LENGTH || FORBIDDEN.test(value)) throw rejected();
  const relative = value.startsWith('/');
  if (relative ? value.startsWith('//') : !/^https?:\/\/[^/]/i.test(value)) throw rejected();
  const base = new URL(policy.base);
  let url: URL;
  try {
    url = new URL(value, base);
  } catch {
    throw rejected();
  }
  if (url.username || url.password || url.pathname.startsWith('//') || decodedEscapes(url.pathname, base)) throw rejected();
  let out: string;
  if (url.origin === base.origin) {
    out = relative ? url.pathname + url.search + url.hash : url.href;
  } else {
    if (relative) throw rejected();
    const secureEnough = url.protocol === 'https:' || (url.protocol === 'http:' && isLoopbackHost(url.hostname));
    if (!secureEnough || !(policy.allowedHosts ?? []).some((pattern) => hostMatches(url.hostname, pattern))) throw rejected();
    out = url.href;
  }
  // What we return must mean exactly what we checked.
  if (new URL(out, base).href !== url.href) throw rejected();
  return out;
}

/** `/login?return_to=<target>`: where a page that needs a session sends the browser. */
export function loginRedirect(target: string, policy: RedirectPolicy): string {
  const checked = redirectTarget(target, policy, { fallback: '/' });
  return checked === '/' ? '/login' : `/login?return_to=${encodeURIComponent(checked)}`;
}

/** True when the path, percent-decoded (as a careless app or proxy might), would leave the origin. */
function decodedEscapes(pathname: string, base: URL): boolean {
  const decoded = decodeLoosely(pathname);
  if (decoded === pathname) return false;
  if (FORBIDDEN.test(decoded) || decoded.startsWith('//')) return true;
  try {
    return new URL(decoded, base).pathname.startsWith('//');
  } catch {
    return true;
  }
}

/** Percent-decodes repeatedly (up to 3 times), leaving malformed escapes as they are. */
function decodeLoosely(value: string): string {
  let current = value;
  for (let i = 0; i < 3; i++) {
    const next = current.replace(/%([0-9a-f]{2})/gi, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)));
    if (next === current) break;
    current = next;
  }
  return current;
}

function hostMatches(hostname: string, pattern: string): boolean {
  const host = hostname.toLowerCase();
  const p = pattern.toLowerCase();
  return p.startsWith('*.') ? host.endsWith(p.slice(1)) && host.length > p.length - 1 : host === p;
}
