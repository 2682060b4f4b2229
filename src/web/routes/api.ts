import { Router } from 'express';
import type { WebDeps } from '../deps.js';
import { asyncHandler } from '../middleware.js';
import { requirePrincipal } from '../principal.js';

export function apiRoutes(deps: WebDeps): Router {
  const router = Router();
  router.get(
    '/api/v1/whoami',
    asyncHandler(async (req, res) => {
      const { identity, access, session } = await requirePrincipal(deps, req);
      res.setHeader('cache-control', 'no-store');
      res.json({
        username: identity.username,
        email: identity.email ?? null,
        groups: identity.groups,
        connector: identity.connector,
        subject: identity.subject,
        roles: access.roles,
        kubernetes_groups: access.kubernetesGroups,
        logins: access.logins,
        audit: access.auditRead ? 'read' : 'own',
        session: session ? { created_at: new Date(session.createdAt).toISOString(), expires_at: new Date(session.expiresAt).toISOString() } : null,
      });
    }),
  );
  return router;
}
