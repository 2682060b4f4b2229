/**
 * The cluster artefacts an operator pastes into a cluster, rendered by the gateway from its own
 * config, for `gatehouse kube apiserver-config|rbac|webhook-config` run without a config file:
 *
 * - `GET /api/v1/kube/artefacts/apiserver-config?cluster=NAME`: kube-apiserver OIDC flags and AuthenticationConfiguration
 * - `GET /api/v1/kube/artefacts/rbac`: the RoleBindings / ClusterRoleBindings for every role's groups
 * - `GET /api/v1/kube/artefacts/webhook-config`: the TokenReview webhook's kubeconfig, its bearer
 *   token always the `${TOKENREVIEW_TOKEN}` placeholder (a secret never leaves the gateway)
 *
 * Answers are `text/yaml`, byte for byte what the CLI prints from the same config file. A gateway
 * token (or session) is required, and a role with `cluster_artefacts: true`; anyone else gets 403
 * `cluster_artefacts_forbidden`, audited as `access.denied`.
 */
import { Router, type Request, type Response } from 'express';
import { GatehouseError } from '../../core/errors.js';
import { apiserverConfigText, rbacText, webhookConfigText } from '../../kube/artefacts.js';
import type { WebDeps } from '../deps.js';
import { asyncHandler } from '../middleware.js';
import { requirePrincipal } from '../principal.js';

const KINDS = ['apiserver-config', 'rbac', 'webhook-config'] as const;
type Kind = (typeof KINDS)[number];

export function kubeArtefactRoutes(deps: WebDeps): Router {
  const router = Router();

  const render = (kind: Kind, req: Request): string => {
    const { config } = deps;
    if (kind === 'rbac') return rbacText(config);
    if (kind === 'webhook-config') return webhookConfigText(config, { withToken: false });
    const name = typeof req.query.cluster === 'string' ? req.query.cluster : '';
    const cluster = config.clusters.find((c) => c.name === name);
    if (!cluster)
      throw new GatehouseError(
        'unknown_cluster',
        `apiserver-config needs --cluster NAME (one of: ${config.clusters.map((c) => c.name).join(', ') || 'none configured'})`,
        { status: 404 },
      );
    return apiserverConfigText(config, cluster);
  };

  const serve = (kind: Kind) =>
    asyncHandler(async (req: Request, res: Response) => {
      const { identity, access } = await requirePrincipal(deps, req);
      if (!access.clusterArtefacts) {
        await deps.audit.emit({
          type: 'access.denied',
          outcome: 'failure',
          user: identity.username,
          connector: identity.connector,
          roles: access.roles,
          reason: 'cluster_artefacts_forbidden',
          context: res.locals.ctx,
          details: { resource: 'cluster-artefacts', kind },
        });
        throw new GatehouseError('cluster_artefacts_forbidden', `${identity.username} has no role with cluster_artefacts: true.`, { status: 403 });
      }
      res.setHeader('cache-control', 'no-store');
      res.type('text/yaml; charset=utf-8').send(render(kind, req));
    });

  for (const kind of KINDS) router.get(`/api/v1/kube/artefacts/${kind}`, serve(kind));
  return router;
}
