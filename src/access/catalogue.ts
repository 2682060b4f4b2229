import type { ExternalIdentity } from '../core/types.js';
import { connectCommands, reachableDatabases, type DatabaseAccess, type RoleDatabases } from './databases.js';
import { entitle, type ClusterGrant } from './entitlements.js';
import { canUseApp, reachableNodes, resolveAccess, type Access, type Policy } from './policy.js';

/**
 * What a person can reach right now, from current policy: the catalogue behind "My access".
 * Pure: the targets come from the config, the answer only from policy.
 * - apps they may open (canUseApp: a role lists the app, or the app lists one of their roles; deny wins);
 * - SSH nodes with at least one login, each with those logins (roles' node_labels applied);
 * - clusters they can get a token for (the same decision as the token endpoint: entitle);
 * - databases with at least one db user, each with its db users and names and the
 *   `gatehouse db connect` lines (the same answer as GET /api/v1/db/databases).
 */
export interface CatalogueTargets<A, N, C, D> {
  apps: readonly A[];
  nodes: readonly N[];
  clusters: readonly C[];
  databases: readonly D[];
  /** The roles' `databases` grants (config.roles; Policy's RoleSpec does not carry them). */
  databaseRoles: readonly RoleDatabases[];
}

export interface Catalogue<A, N, C, D> {
  access: Access;
  apps: A[];
  nodes: (N & { logins: string[] })[];
  clusters: C[];
  databases: (D & DatabaseAccess & { connect: string[] })[];
}

/** Cluster audiences are never empty (config schema), so this never stands for one. */
const NOT_THE_GATEWAY = '';

export function accessCatalogue<
  A extends { name: string; roles?: string[] },
  N extends { name: string; labels: Record<string, string> },
  C extends ClusterGrant,
  D extends { name: string; labels: Record<string, string> },
>(identity: ExternalIdentity, policy: Policy, targets: CatalogueTargets<A, N, C, D>): Catalogue<A, N, C, D> {
  const access = resolveAccess(identity, policy);
  const groupPrefix = policy.groupPrefixes[identity.connector] ?? '';
  return {
    access,
    apps: targets.apps.filter((app) => canUseApp(access, app)),
    nodes: reachableNodes(access, [...targets.nodes]),
    clusters: targets.clusters.filter((cluster) => entitle(identity, cluster.audience, policy, [cluster], NOT_THE_GATEWAY).allowed),
    databases: reachableDatabases(identity, access.roles, [...targets.databaseRoles], groupPrefix, [...targets.databases]).map((d) => ({
      ...d,
      connect: connectCommands(d.name, d.users),
    })),
  };
}
