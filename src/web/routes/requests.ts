import express, { Router, type Request, type Response } from 'express';
import { GatehouseError } from '../../core/errors.js';
import type { Actor } from '../../requests/index.js';
import { requestCreate, requestListQuery, requestReview } from '../api-schema/requests.js';
import type { WebDeps } from '../deps.js';
import { asyncHandler } from '../middleware.js';
import { requirePrincipal } from '../principal.js';

/** `{ error }` for a body or query that does not parse, naming the first problem. */
function parsed<T>(result: { success: true; data: T } | { success: false; error: { issues: { path: PropertyKey[]; message: string }[] } }): T {
  if (result.success) return result.data;
  const [issue] = result.error.issues;
  throw new GatehouseError('invalid_request', `${issue.path.join('.') || 'body'}: ${issue.message}`);
}

/**
 * `/api/v1/requests` (GET list, POST create), `/api/v1/requests/:id` (GET, DELETE drops it) and
 * `/api/v1/requests/:id/review` (POST). Signed in by bearer token or session (same-origin checked).
 */
export function requestRoutes(deps: WebDeps): Router {
  const router = Router();
  const requests = deps.requests;
  if (!requests) return router;
  const actorOf = async (req: Request, res: Response): Promise<Actor> => {
    const { identity, access } = await requirePrincipal(deps, req);
    return { identity, access, context: res.locals.ctx };
  };
  const noStore = (res: Response) => res.setHeader('cache-control', 'no-store');

  router.get(
    '/api/v1/requests',
    asyncHandler(async (req, res) => {
      const actor = await actorOf(req, res);
      const query = parsed(requestListQuery.safeParse(req.query));
      noStore(res);
      res.json({
        requests: await requests.list(actor, { state: query.state, mine: query.mine !== undefined }),
        requestable: requests.options(actor.identity).map((o) => ({
          role: o.role,
          max_duration_ms: o.maxDurationMs,
          reviewers: o.reviewers,
          require_reason: o.requireReason,
        })),
      });
    }),
  );

  router.post(
    '/api/v1/requests',
    express.json({ limit: '8kb' }),
    asyncHandler(async (req, res) => {
      const actor = await actorOf(req, res);
      const body = parsed(requestCreate.safeParse(req.body ?? {}));
      noStore(res);
      res.status(201).json(await requests.create(actor, { roles: body.roles, reason: body.reason, duration_ms: body.duration }));
    }),
  );

  router.get(
    '/api/v1/requests/:id',
    asyncHandler(async (req, res) => {
      const actor = await actorOf(req, res);
      noStore(res);
      res.json(await requests.get(actor, String(req.params.id)));
    }),
  );

  router.delete(
    '/api/v1/requests/:id',
    asyncHandler(async (req, res) => {
      const actor = await actorOf(req, res);
      noStore(res);
      res.json(await requests.drop(actor, String(req.params.id)));
    }),
  );

  router.post(
    '/api/v1/requests/:id/review',
    express.json({ limit: '8kb' }),
    asyncHandler(async (req, res) => {
      const actor = await actorOf(req, res);
      const body = parsed(requestReview.safeParse(req.body ?? {}));
      noStore(res);
      res.json(await requests.review(actor, String(req.params.id), body));
    }),
  );
  return router;
}
