import type { ExternalIdentity } from '../core/types.js';
import { entitle, type ClusterGrant } from './entitlements.js';
import { canUseApp, reachableNodes, resolveAccess, type Access, type Policy } from './policy.js';

/**
 * What a person can reach right now, from current policy: the catalogue behind "My access".
 * Pure: the targets come from the config, the answer only from policy.
 * - apps they may open (canUseApp: a role lists the app, or the app lists one of their roles; deny wins);
 * - SSH nodes with at least one login, each with those logins (roles' node_labels applied);
 * - clusters they can get a token for (the same decision as the token endpoint: entitle).
 * Databases join here once the config has them.
 */
export interface CatalogueTargets<A, N, C> {
  apps: readonly A[];
  nodes: readonly N[];
  clusters: readonly C[];
}

export interface Catalogue<A, N, C> {
  access: Access;
  apps: A[];
  nodes: (N & { logins: string[] })[];
  clusters: C[];
}

/** Cluster audiences are never empty (config schema), so this never stands for one. */
const NOT_THE_GATEWAY = '';

export function accessCatalogue<
  A extends { name: string; roles?: string[] },
  N extends { name: string; labels: Record<string, string> },
  C extends ClusterGrant,
>(identity: ExternalIdentity, policy: Policy, targets: CatalogueTargets<A, N, C>): Catalogue<A, N, C> {
  const access = resolveAccess(identity, policy);
  return {
    access,
    apps: targets.apps.filter((app) => canUseApp(access, app)),
    nodes: reachableNodes(access, [...targets.nodes]),
    clusters: targets.clusters.filter((cluster) => entitle(identity, cluster.audience, policy, [cluster], NOT_THE_GATEWAY).allowed),
  };
}
