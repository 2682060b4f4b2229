import type { ExternalIdentity } from '../core/types.js';
import { claimValues } from './claims.js';
import { compilePattern, matchesAny } from './match.js';
import { expandTemplates } from './templates.js';

/** What a role grants. Every list may hold templates such as `{{external.groups}}`. */
export interface RoleSpec {
  name: string;
  kubernetes_groups: string[];
  kubernetes_users: string[];
  logins: string[];
  /** Nodes this role's logins apply to: every key must match one of its values (`*` for any). */
  node_labels: Record<string, string[]>;
  apps: string[];
  /** `read`: may read everyone's audit events and recordings. */
  audit?: 'read';
  max_session_ttl_ms?: number;
  port_forwarding: boolean;
  agent_forwarding: boolean;
  /** May revoke anyone's SSH certificates. */
  ssh_revoke: boolean;
  /** May rotate the SSH user and host CAs. */
  ssh_ca_admin?: boolean;
  /** May fetch the cluster artefacts (kube-apiserver config, RBAC, webhook kubeconfig) from the gateway. */
  cluster_artefacts?: boolean;
  /** Granted only by an approved access request, never by a mapping. */
  requestable?: boolean;
  /** The longest a request for this role may last. */
  max_duration_ms?: number;
  /** What holders of this role may request, and who reviews it. */
  request?: { roles: string[]; reviewers: { roles: string[]; approvals: number }; require_reason: boolean };
  /** Taken away whatever any role allows (globs allowed). */
  deny: { kubernetes_groups: string[]; kubernetes_users: string[]; logins: string[]; apps: string[] };
}

/** Grants roles to identities that match. Every matching mapping adds its roles. */
export interface MappingSpec {
  match: { connector?: string; email?: string; claim?: string; value?: string };
  /** Role names; `$1`… are regex captures of `value`. */
  roles: string[];
}

export interface Policy {
  roles: RoleSpec[];
  mappings: MappingSpec[];
  /** Per connector, a prefix for upstream groups passed through templates (keeps two IdPs' groups apart). */
  groupPrefixes: Record<string, string>;
  /** The active access requests of a person (src/requests/grants.ts); absent: none. */
  requestGrants?: (identity: ExternalIdentity) => RequestGrant[];
}

/** Roles an approved access request adds, until it ends. */
export interface RequestGrant {
  id: string;
  roles: string[];
  /** ms since epoch */
  expiresAt: number;
  reason: string;
}

export interface SshGrant {
  role: string;
  logins: string[];
  nodeLabels: Record<string, string[]>;
}

/** The result of policy for one identity, with where each grant came from. */
export interface Access {
  roles: string[];
  kubernetesGroups: string[];
  kubernetesUsers: string[];
  /** Every login some role allows somewhere (node labels not applied): see allowedLogins. */
  logins: string[];
  apps: string[];
  ssh: SshGrant[];
  denyLogins: string[];
  denyApps: string[];
  auditRead: boolean;
  portForwarding: boolean;
  agentForwarding: boolean;
  sshRevoke: boolean;
  sshCaAdmin: boolean;
  clusterArtefacts: boolean;
  /** The smallest max_session_ttl of the roles, when any sets one. */
  maxSessionTtlMs?: number;
  /** The active access requests that added roles: tokens and certificates end with the first of them. */
  requests: RequestGrant[];
  explain: {
    /** role → the mappings (by index) that granted it */
    roles: Record<string, number[]>;
    /** role → the access requests that granted it */
    requests: Record<string, string[]>;
    /** requestable roles a mapping named: only requests grant those */
    requestableMapped: string[];
    /** `kind:value` → the roles that granted it */
    grants: Record<string, string[]>;
    /** mapping roles that name no defined role */
    unknownRoles: string[];
  };
}

export function resolveAccess(identity: ExternalIdentity, policy: Policy): Access {
  const granted = new Map<string, number[]>();
  const unknownRoles = new Set<string>();
  const requestableMapped = new Set<string>();
  const defined = new Map(policy.roles.map((r) => [r.name, r]));

  policy.mappings.forEach((mapping, index) => {
    const captures = matchMapping(identity, mapping);
    if (!captures) return;
    for (const template of mapping.roles) {
      for (const groups of captures) {
        const role = template.replace(/\$(\d)/g, (_, n: string) => groups[Number(n)] ?? '');
        if (!defined.has(role)) {
          unknownRoles.add(role);
          continue;
        }
        if (defined.get(role)!.requestable) {
          requestableMapped.add(role);
          continue;
        }
        granted.set(
          role,
          [...(granted.get(role) ?? []), index].filter((v, i, a) => a.indexOf(v) === i),
        );
      }
    }
  });

  const byRequest: Record<string, string[]> = {};
  const now = Date.now();
  const requests = (policy.requestGrants?.(identity) ?? []).filter((grant) => {
    if (grant.expiresAt <= now) return false;
    const added = grant.roles.filter((role) => defined.has(role));
    for (const role of added) (byRequest[role] ??= []).push(grant.id);
    return added.length > 0;
  });
  const roles = [...new Set([...granted.keys(), ...Object.keys(byRequest)])].sort();
  const specs = roles.map((r) => defined.get(r)!);
  const grants: Record<string, string[]> = {};
  const collect = (kind: string, pick: (r: RoleSpec) => string[]): string[] => {
    const out = new Set<string>();
    for (const spec of specs) {
      for (const value of expandTemplates(pick(spec), identity, policy.groupPrefixes[identity.connector] ?? '')) {
        out.add(value);
        (grants[`${kind}:${value}`] ??= []).push(spec.name);
      }
    }
    return [...out].sort();
  };

  const deny = {
    kubernetesGroups: collect('deny.kubernetes_groups', (r) => r.deny.kubernetes_groups),
    kubernetesUsers: collect('deny.kubernetes_users', (r) => r.deny.kubernetes_users),
    logins: collect('deny.logins', (r) => r.deny.logins),
    apps: collect('deny.apps', (r) => r.deny.apps),
  };
  const allowed = (values: string[], denied: string[]) => values.filter((v) => !matchesAny(denied, v));
  const ttls = specs.map((s) => s.max_session_ttl_ms).filter((t): t is number => t !== undefined);

  return {
    roles,
    kubernetesGroups: allowed(
      collect('kubernetes_groups', (r) => r.kubernetes_groups),
      deny.kubernetesGroups,
    ),
    kubernetesUsers: allowed(
      collect('kubernetes_users', (r) => r.kubernetes_users),
      deny.kubernetesUsers,
    ),
    logins: allowed(
      collect('logins', (r) => r.logins),
      deny.logins,
    ),
    apps: collect('apps', (r) => r.apps),
    ssh: specs.map((s) => ({
      role: s.name,
      logins: allowed(expandTemplates(s.logins, identity, policy.groupPrefixes[identity.connector] ?? ''), deny.logins),
      nodeLabels: s.node_labels,
    })),
    denyLogins: deny.logins,
    denyApps: deny.apps,
    auditRead: specs.some((s) => s.audit === 'read'),
    portForwarding: specs.some((s) => s.port_forwarding),
    agentForwarding: specs.some((s) => s.agent_forwarding),
    sshRevoke: specs.some((s) => s.ssh_revoke),
    sshCaAdmin: specs.some((s) => s.ssh_ca_admin === true),
    clusterArtefacts: specs.some((s) => s.cluster_artefacts === true),
    maxSessionTtlMs: ttls.length ? Math.min(...ttls) : undefined,
    requests,
    explain: {
      roles: Object.fromEntries(granted),
      requests: byRequest,
      requestableMapped: [...requestableMapped].sort(),
      grants,
      unknownRoles: [...unknownRoles].sort(),
    },
  };
}

/** The regex captures for each matching value, or null when the mapping does not apply. */
function matchMapping(identity: ExternalIdentity, mapping: MappingSpec): string[][] | null {
  const { connector, email, claim, value } = mapping.match;
  if (connector !== undefined && connector !== identity.connector) return null;
  let captures: string[][] = [[]];
  if (email !== undefined) {
    const m = identity.email ? compilePattern(email, { caseInsensitive: true })(identity.email) : null;
    if (!m) return null;
    captures = [m];
  }
  if (claim !== undefined) {
    const matcher = value === undefined ? () => [] : compilePattern(value);
    const found = claimValues(identity, claim)
      .map((v) => matcher(v))
      .filter((m): m is string[] => m !== null);
    if (!found.length) return null;
    captures = found;
  }
  return captures;
}

/** When the first access request this access depends on ends (ms since epoch); undefined: none. */
export const requestsEndAt = (access: Pick<Access, 'requests'>): number | undefined =>
  access.requests.length ? Math.min(...access.requests.map((r) => r.expiresAt)) : undefined;

/** A token or certificate lifetime, capped so nothing minted under a request outlives it. */
export function capToRequests(access: Pick<Access, 'requests'>, ttlMs: number, now = Date.now()): number {
  const end = requestsEndAt(access);
  return end === undefined ? ttlMs : Math.max(0, Math.min(ttlMs, end - now));
}

/** Logins allowed on a node with these labels: roles whose node_labels match, minus denied logins. */
export function allowedLogins(access: Access, nodeLabels: Record<string, string>): string[] {
  const logins = new Set<string>();
  for (const grant of access.ssh) {
    const matches = Object.entries(grant.nodeLabels).every(([key, values]) => nodeLabels[key] !== undefined && matchesAny(values, nodeLabels[key]));
    if (matches && Object.keys(grant.nodeLabels).length > 0) grant.logins.forEach((l) => logins.add(l));
  }
  return [...logins].filter((l) => !matchesAny(access.denyLogins, l)).sort();
}

/** The nodes a person has at least one login on, each with those logins. */
export function reachableNodes<N extends { name: string; labels: Record<string, string> }>(access: Access, nodes: N[]): (N & { logins: string[] })[] {
  return nodes.map((n) => ({ ...n, logins: allowedLogins(access, n.labels) })).filter((n) => n.logins.length > 0);
}

/** Whether the person may use an app: a role lists it (or a glob of it), or the app lists one of their roles. */
export function canUseApp(access: Access, app: { name: string; roles?: string[] }): boolean {
  if (matchesAny(access.denyApps, app.name)) return false;
  return matchesAny(access.apps, app.name) || (app.roles ?? []).some((r) => access.roles.includes(r));
}
