import { isLoopbackHost } from '../config/load.js';
import { GatehouseError } from '../core/errors.js';
import type { Config } from '../config/schema.js';
import { createAppRegistry } from '../proxy/http/apps.js';

const MAX_LENGTH = 2048;

/**
 * Where a browser may be sent after login. Accepts same-origin paths and absolute
 * URLs on our own host or a configured host (`*.apps.example.com` allowed);
 * everything else is an open redirect and is refused.
 */
export function checkReturnTo(value: unknown, options: { publicUrl: string; allowedHosts: string[] }): string {
  if (value === undefined || value === '') return '/';
  const rejected = () => new GatehouseError('return_to_rejected', 'return_to must be a path on this gateway or an allowed host.', { status: 400 });
  // eslint-disable-next-line no-control-regex -- control characters are exactly what we refuse
  if (typeof value !== 'string' || value.length > MAX_LENGTH || /[\u0000-\u001f\\]/.test(value)) throw rejected();
  const base = new URL(options.publicUrl);
  if (value.startsWith('/')) {
    if (value.startsWith('//')) throw rejected();
    const url = new URL(value, base);
    if (url.origin !== base.origin) throw rejected();
    return url.pathname + url.search + url.hash;
  }
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw rejected();
  }
  const secureEnough = url.protocol === 'https:' || (url.protocol === 'http:' && isLoopbackHost(url.hostname));
  if (!secureEnough || url.username || url.password) throw rejected();
  if (url.host === base.host || options.allowedHosts.some((pattern) => hostMatches(url.hostname, pattern))) return url.href;
  throw rejected();
}

function hostMatches(hostname: string, pattern: string): boolean {
  const host = hostname.toLowerCase();
  const p = pattern.toLowerCase();
  return p.startsWith('*.') ? host.endsWith(p.slice(1)) && host.length > p.length - 1 : host === p;
}

/** Hosts of host-based apps: a browser sent to sign in from one of them may return there. */
export function appPublicHosts(config: Pick<Config, 'apps' | 'server'>): string[] {
  return createAppRegistry(config).publicHosts;
}
