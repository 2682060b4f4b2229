import type { IncomingMessage } from 'node:http';
import { randomId } from './ids.js';
import type { RequestContext } from './types.js';

const REQUEST_ID = /^[A-Za-z0-9._-]{8,128}$/;

/**
 * Who sent a request: the socket address, or the X-Forwarded-For entry added by the
 * nearest `trustProxyHops` proxies; a client-sent request id is kept only when well formed.
 */
export function requestContext(req: IncomingMessage, trustProxyHops: number): RequestContext {
  let remoteAddr = req.socket.remoteAddress;
  if (trustProxyHops > 0) {
    const chain = String(req.headers['x-forwarded-for'] ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
    remoteAddr = chain[chain.length - trustProxyHops] ?? remoteAddr;
  }
  const given = req.headers['x-request-id'];
  return {
    remoteAddr,
    userAgent: typeof req.headers['user-agent'] === 'string' ? req.headers['user-agent'].slice(0, 512) : undefined,
    requestId: typeof given === 'string' && REQUEST_ID.test(given) ? given : randomId(12),
  };
}
