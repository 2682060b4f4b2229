import type { MappingSpec, Policy, RoleSpec } from './policy.js';

export { resolveAccess, allowedLogins, reachableNodes, canUseApp, capToRequests, type Access, type Policy } from './policy.js';

/** The policy part of a validated config (structural, so access depends on nothing but core). */
export function policyFromConfig(config: { roles: RoleSpec[]; mappings: MappingSpec[]; connectors: { id: string; groups_prefix: string }[] }): Policy {
  return {
    roles: config.roles,
    mappings: config.mappings,
    groupPrefixes: Object.fromEntries(config.connectors.map((c) => [c.id, c.groups_prefix])),
  };
}
export { entitle } from './entitlements.js';
