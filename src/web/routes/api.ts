import { Router } from 'express';
import type { WebDeps } from '../deps.js';
import { asyncHandler, currentSession, unauthenticated } from '../middleware.js';

export function apiRoutes(deps: WebDeps): Router {
  const router = Router();
  router.get(
    '/api/v1/whoami',
    asyncHandler(async (req, res) => {
      const session = await currentSession(deps, req);
      if (!session) throw unauthenticated();
      const { identity } = session;
      res.setHeader('cache-control', 'no-store');
      res.json({
        username: identity.username,
        email: identity.email ?? null,
        groups: identity.groups,
        connector: identity.connector,
        subject: identity.subject,
        session: { created_at: new Date(session.createdAt).toISOString(), expires_at: new Date(session.expiresAt).toISOString() },
      });
    }),
  );
  return router;
}
