import type { NextFunction, Request, RequestHandler, Response } from 'express';
import type { Logger } from '../core/logger.js';
import type { Session } from '../core/types.js';
import { requestContext } from '../core/request-context.js';
import { SESSION_COOKIE, type WebDeps } from './deps.js';

/** Wraps an async handler so rejections reach the error handler. */
export const asyncHandler =
  (handler: (req: Request, res: Response, next: NextFunction) => Promise<unknown>): RequestHandler =>
  (req, res, next) => {
    handler(req, res, next).catch(next);
  };

export function attachContext(trustProxyHops: number, logger?: Logger): RequestHandler {
  return (req, res, next) => {
    res.locals.ctx = requestContext(req, trustProxyHops);
    res.setHeader('x-request-id', res.locals.ctx.requestId);
    if (logger) {
      // One access line per request, carrying the id that audit events and error pages show.
      // The path only: query strings can hold authorization codes and state.
      const started = process.hrtime.bigint();
      res.once('finish', () =>
        logger.info(
          {
            requestId: res.locals.ctx.requestId,
            method: req.method,
            path: req.path,
            status: res.statusCode,
            ms: Number((process.hrtime.bigint() - started) / 1000n) / 1000,
            remoteAddr: res.locals.ctx.remoteAddr,
          },
          'request',
        ),
      );
    }
    next();
  };
}

/** The caller's gateway session, or null. */
export async function currentSession(deps: WebDeps, req: Request): Promise<Session | null> {
  const id = deps.cookies.read(req, SESSION_COOKIE);
  return id ? deps.sessions.get(id) : null;
}

/** `Cache-Control: no-store` unless a route sets its own (public assets, SP metadata). */
export const noStore: RequestHandler = (_req, res, next) => {
  res.setHeader('cache-control', 'no-store');
  next();
};
