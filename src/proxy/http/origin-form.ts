import type { IncomingMessage } from 'node:http';

/**
 * Reduces an absolute-form target (`GET http://host/x`, RFC 9112 §3.2.2) to origin-form before
 * anything routes on it: the Host becomes the target's authority (the RFC says to ignore the Host
 * header then), and the path is what goes upstream. `*` (OPTIONS) and anything else that is not a
 * path are reported, never forwarded.
 */
export function originForm(req: IncomingMessage): 'ok' | 'asterisk' | 'invalid' {
  const url = req.url ?? '/';
  if (url.startsWith('/')) return 'ok';
  if (url === '*') return req.method === 'OPTIONS' ? 'asterisk' : 'invalid';
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return 'invalid';
  }
  if (
    (parsed.protocol !== 'http:' && parsed.protocol !== 'https:' && parsed.protocol !== 'ws:' && parsed.protocol !== 'wss:') ||
    parsed.username ||
    parsed.password ||
    !parsed.host
  )
    return 'invalid';
  req.url = parsed.pathname + parsed.search;
  req.headers.host = parsed.host;
  return 'ok';
}
