import type { ErrorRequestHandler, Request, Response } from 'express';
import { GatehouseError, isGatehouseError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
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
  else res.json({ error: code, message, request_id: requestId });
}

export function errorHandler(options: { logger: Logger; demo: boolean }): ErrorRequestHandler {
  return (err, req, res, _next) => {
    // Body parser errors (oversized or malformed bodies) carry an HTTP status.
    const typed = (err as { type?: string; status?: number }).type?.startsWith('entity.')
      ? new GatehouseError('invalid_request', 'The request body is malformed or too large.', { status: (err as { status: number }).status })
      : err;
    sendError(req, res, typed, options);
  };
}

export const notFound = () => new GatehouseError('not_found', 'Nothing here.', { status: 404 });
