import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ErrorCode } from '../../core/error-codes.js';

/** Renders an error page (injected by the composition root, so this folder does not depend on the web layer). */
export type ErrorPageRenderer = (options: { status: number; code: string; message: string; requestId?: string }) => string;

/** Headers on every answer Gatehouse itself gives on an app's behalf. */
const OWN_HEADERS = {
  'cache-control': 'no-store',
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'content-security-policy': "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'",
};

export const wantsHtml = (req: IncomingMessage): boolean => (req.headers.accept ?? '').includes('text/html');

/** A browser gets a page, everything else `{ error, message, request_id }`, like the web layer's errors. */
export function sendError(
  req: IncomingMessage,
  res: ServerResponse,
  page: ErrorPageRenderer,
  e: { status: number; code: ErrorCode; message: string; requestId?: string },
): void {
  if (res.headersSent) return void res.destroy();
  const html = wantsHtml(req);
  const body = html ? page(e) : JSON.stringify({ error: e.code, message: e.message, request_id: e.requestId });
  res.writeHead(e.status, {
    ...OWN_HEADERS,
    'content-type': html ? 'text/html; charset=utf-8' : 'application/json',
    'content-length': Buffer.byteLength(body),
    ...(e.requestId ? { 'x-request-id': e.requestId } : {}),
    ...(e.status === 503 ? { 'retry-after': '5' } : {}),
  });
  res.end(req.method === 'HEAD' ? undefined : body);
}

export function redirect(res: ServerResponse, location: string, extra: Record<string, string | string[]> = {}): void {
  res.writeHead(302, { ...OWN_HEADERS, location, 'content-length': 0, ...extra });
  res.end();
}
