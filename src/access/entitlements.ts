import type { ExternalIdentity } from '../core/types.js';
import { resolveAccess, type Policy } from './policy.js';

export interface ClusterGrant {
  name: string;
  audience: string;
  /** When set, only these roles may use the cluster. */
  roles?: string[];
}

export interface Entitlement {
  allowed: boolean;
  reason?: string;
  claims: Record<string, unknown>;
  maxTtlMs?: number;
}

/**
 * What tokens for an audience may say about a person, from current policy:
 * the gateway API needs at least one role; a cluster needs Kubernetes groups or users
 * (and one of the cluster's roles when it lists some), and its tokens carry those groups.
 */
export function entitle(identity: ExternalIdentity, audience: string, policy: Policy, clusters: ClusterGrant[], gatewayAudience: string): Entitlement {
  const access = resolveAccess(identity, policy);
  const base = { email: identity.email, preferred_username: identity.username, roles: access.roles };
  if (!access.roles.length) return { allowed: false, reason: 'no_roles', claims: {} };
  if (audience === gatewayAudience) {
    return { allowed: true, claims: { ...base, groups: identity.groups }, maxTtlMs: access.maxSessionTtlMs };
  }
  const cluster = clusters.find((c) => c.audience === audience);
  if (!cluster) return { allowed: false, reason: 'unknown_cluster', claims: {} };
  if (cluster.roles && !cluster.roles.some((r) => access.roles.includes(r))) return { allowed: false, reason: 'cluster_not_granted', claims: {} };
  if (!access.kubernetesGroups.length && !access.kubernetesUsers.length) return { allowed: false, reason: 'no_kubernetes_groups', claims: {} };
  return {
    allowed: true,
    claims: { ...base, groups: access.kubernetesGroups, kubernetes_users: access.kubernetesUsers, cluster: cluster.name },
    maxTtlMs: access.maxSessionTtlMs,
  };
}
