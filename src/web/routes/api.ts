import { readFileSync } from 'node:fs';
import { Router } from 'express';
import type { KubeClusters } from '../api-schema/kube.js';
import type { Whoami } from '../api-schema/identity.js';
import type { WebDeps } from '../deps.js';
import { asyncHandler } from '../middleware.js';
import { requirePrincipal } from '../principal.js';

/** `/api/v1/whoami` and `/api/v1/kube/clusters`; their bodies are described in ../api-schema/. */
export function apiRoutes(deps: WebDeps): Router {
  const router = Router();
  router.get(
    '/api/v1/whoami',
    asyncHandler(async (req, res) => {
      const { identity, access, session } = await requirePrincipal(deps, req);
      res.setHeader('cache-control', 'no-store');
      const body: Whoami = {
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
        access_requests: access.requests.map((r) => ({ id: r.id, roles: r.roles, expires_at: new Date(r.expiresAt).toISOString() })),
      };
      res.json(body);
    }),
  );
  router.get(
    '/api/v1/kube/clusters',
    asyncHandler(async (req, res) => {
      await requirePrincipal(deps, req);
      res.setHeader('cache-control', 'no-store');
      const body: KubeClusters = {
        clusters: deps.config.clusters.map((c) =>
          // mode proxy: kubectl talks to the Gatehouse proxy (its URL and CA), never to the API server.
          c.mode === 'proxy' && deps.kubeProxy
            ? {
                name: c.name,
                audience: c.audience,
                mode: c.mode,
                api_server: deps.kubeProxy.clusterUrl(c.name),
                ca_data: Buffer.from(deps.kubeProxy.caPem()).toString('base64'),
              }
            : {
                name: c.name,
                audience: c.audience,
                mode: c.mode,
                api_server: c.api_server,
                ca_data: c.ca_file ? readCaData(c.ca_file) : undefined,
              },
        ),
      };
      res.json(body);
    }),
  );
  return router;
}

/** The cluster CA for kubeconfigs, read on request so a rotated file is picked up. */
function readCaData(path: string): string | undefined {
  try {
    return readFileSync(path).toString('base64');
  } catch {
    return undefined;
  }
}
