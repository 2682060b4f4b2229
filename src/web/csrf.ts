import { createHmac, timingSafeEqual } from 'node:crypto';
import type { Request } from 'express';
import { GatehouseError } from '../core/errors.js';

/**
 * CSRF protection for our own forms. SameSite=Lax already keeps cross-site POSTs from
 * carrying the session, but apps on sibling subdomains are same-site; so forms also carry a
 * token derived from the session id, and a present Origin header must be our own (or `null`,
 * which browsers send for our own forms under `Referrer-Policy: no-referrer`; the token decides then).
 * A failure is audited as `auth.csrf_rejected` by the error handler (src/web/errors.ts).
 */
export const csrfToken = (sessionId: string): string => createHmac('sha256', sessionId).update('gatehouse-csrf').digest('base64url');

/**
 * For API calls authenticated by the session cookie (no form token to check): a state-changing
 * request must come from our own origin. `Sec-Fetch-Site` decides where the browser sends it
 * (same-origin, or none for a typed URL); without it, a present Origin must be ours. A sibling
 * app's fetch or form (same-site, so it carries the cookie) is refused, whatever its body type.
 */
export function checkSameOrigin(req: Request, publicUrl: string): void {
  if (req.method === 'GET' || req.method === 'HEAD' || req.method === 'OPTIONS') return;
  const site = req.headers['sec-fetch-site'];
  const origin = req.headers.origin;
  const ok =
    typeof site === 'string' ? site === 'same-origin' || site === 'none' : origin === undefined || origin === 'null' || origin === new URL(publicUrl).origin;
  if (!ok) {
    throw new GatehouseError('csrf_failed', 'This request was not sent by a Gatehouse page.', {
      status: 403,
      details: {
        why: 'foreign_origin',
        origin: typeof origin === 'string' ? origin.slice(0, 256) : undefined,
        sec_fetch_site: typeof site === 'string' ? site.slice(0, 32) : undefined,
      },
    });
  }
}

export function checkCsrf(req: Request, sessionId: string, publicUrl: string): void {
  const origin = req.headers.origin;
  const given = typeof req.body?.csrf === 'string' ? Buffer.from(req.body.csrf) : Buffer.alloc(0);
  const expected = Buffer.from(csrfToken(sessionId));
  const originOk = origin === undefined || origin === 'null' || origin === new URL(publicUrl).origin;
  if (!originOk || given.length !== expected.length || !timingSafeEqual(given, expected)) {
    const why = !originOk ? 'foreign_origin' : given.length === 0 ? 'token_missing' : 'token_mismatch';
    throw new GatehouseError('csrf_failed', 'This form was not submitted from Gatehouse. Reload the page and try again.', {
      status: 403,
      details: { why, origin: typeof origin === 'string' ? origin.slice(0, 256) : undefined },
    });
  }
}
