import type { ErrorRequestHandler, Request, Response } from 'express';
import { GatehouseError, isGatehouseError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { type AuditSink, bestEffort } from '../audit/sink.js';
import type { Session } from '../core/types.js';
import { sessionRef } from '../sessions/sessions.js';
import type { ErrorBody } from './api-schema/errors.js';
import { errorPage } from './views/pages.js';

/** Browsers get a page, everything else (and all of /api) gets `{ error, message }`. */
export function sendError(req: Request, res: Response, err: unknown, options: { logger: Logger; demo: boolean }): void {
  const known = isGatehouseError(err) ? err : undefined;
  const status = known?.status ?? 500;
  const code = known?.code ?? 'internal_error';
  const message = known?.expose ? known.message : 'Internal server error. The operators can find details in the logs.';
  const requestId = res.locals.ctx?.requestId as string | undefined;
  if (status >= 500) options.logger.error({ err, code, requestId, path: req.path }, 'request failed');
  if (res.headersSent) return void res.end();
  if (status === 503) res.setHeader('retry-after', '5');
  const wantsHtml = !req.path.startsWith('/api/') && req.accepts(['json', 'html']) === 'html';
  res.status(status);
  if (wantsHtml) res.type('html').send(errorPage({ status, code, message, requestId, demo: options.demo }));
  // A route may have set its own type (text/yaml) before failing: the error is JSON all the same.
  else res.type('json').json({ error: code, message, request_id: requestId } satisfies ErrorBody);
}

export interface ErrorHandlerOptions {
  logger: Logger;
  demo: boolean;
  /** When given, every CSRF failure (any form) is audited as `auth.csrf_rejected`. */
  audit?: AuditSink;
  /** The caller's session, for the CSRF audit event's user and session digest. */
  session?(req: Request): Promise<Session | null>;
}

export function errorHandler(options: ErrorHandlerOptions): ErrorRequestHandler {
  return (err, req, res, _next) => {
    // Body parser errors (oversized or malformed bodies) carry an HTTP status.
    const typed = (err as { type?: string; status?: number }).type?.startsWith('entity.')
      ? new GatehouseError('invalid_request', 'The request body is malformed or too large.', { status: (err as { status: number }).status })
      : err;
    if (options.audit && isGatehouseError(typed) && typed.code === 'csrf_failed') {
      void auditCsrf(options, req, res, typed).finally(() => sendError(req, res, typed, options));
      return;
    }
    sendError(req, res, typed, options);
  };
}

async function auditCsrf(options: ErrorHandlerOptions, req: Request, res: Response, err: GatehouseError): Promise<void> {
  const session = await options.session?.(req).catch(() => null);
  await bestEffort(
    options.audit!,
    options.logger,
  )({
    type: 'auth.csrf_rejected',
    outcome: 'failure',
    user: session?.identity.username,
    session_id: session ? sessionRef(session.id) : undefined,
    reason: 'csrf_failed',
    details: { method: req.method, path: req.path.slice(0, 256), ...err.details, sec_fetch_site: str(req.headers['sec-fetch-site']) },
    context: res.locals.ctx,
  });
}

const str = (v: unknown) => (typeof v === 'string' ? v.slice(0, 64) : undefined);

export const notFound = () => new GatehouseError('not_found', 'Nothing here.', { status: 404 });
