import { readFileSync } from 'node:fs';
import { policyFromConfig, resolveAccess } from '../../access/index.js';
import { exampleRequestGrants, type ExampleRequest } from '../../access/policy-tests.js';
import { requestOptions, type RequestOption } from '../../access/requests.js';
import { loadConfigFile } from '../../config/load.js';
import type { ExternalIdentity } from '../../core/types.js';
import { UsageError } from '../errors.js';
import { formatDuration } from './request.js';

/** `access_requests` of an identity file: [{ id?, roles, expires_at? }]. */
function exampleRequests(raw: unknown): ExampleRequest[] {
  if (raw === undefined) return [];
  const bad = (why: string) => new UsageError(`the identity's "access_requests" ${why} (a list of { "id", "roles": [..], "expires_at"?: RFC 3339 })`);
  if (!Array.isArray(raw)) throw bad('is not a list');
  return raw.map((entry: Partial<Record<keyof ExampleRequest, unknown>>, i) => {
    const { id, roles, expires_at } = entry ?? {};
    if (!Array.isArray(roles) || !roles.length || !roles.every((r) => typeof r === 'string')) throw bad(`entry ${i} needs "roles"`);
    if (id !== undefined && typeof id !== 'string') throw bad(`entry ${i}: "id" is not a string`);
    if (expires_at !== undefined && (typeof expires_at !== 'string' || Number.isNaN(Date.parse(expires_at))))
      throw bad(`entry ${i}: "expires_at" is not a date`);
    return { id, roles, expires_at };
  });
}

const describeOption = (o: RequestOption) =>
  `reviewers ${o.reviewers.roles.join(', ')} (${o.reviewers.approvals} approval${o.reviewers.approvals === 1 ? '' : 's'}), ` +
  `max ${formatDuration(o.maxDurationMs)}${o.requireReason ? ', reason required' : ''}`;

/**
 * `gatehouse policy explain --identity file.json`: the roles, Kubernetes groups and users,
 * logins and apps an identity resolves to, and which mapping, role or access request produced
 * each; then what the identity may request.
 */
export function policyExplain(options: { config?: string; identity?: string; json?: boolean }): void {
  const path = options.config ?? process.env.GATEHOUSE_CONFIG ?? 'config/gatehouse.yaml';
  if (!options.identity) throw new UsageError('policy explain needs --identity FILE (JSON: connector, username, email, groups, claims, access_requests)');
  const config = loadConfigFile(path);
  const { access_requests: rawRequests, ...raw } = JSON.parse(readFileSync(options.identity, 'utf8')) as Partial<ExternalIdentity> & {
    access_requests?: unknown;
  };
  if (!raw.connector || !raw.username) throw new UsageError('the identity needs at least "connector" and "username"');
  const identity: ExternalIdentity = { subject: raw.username, groups: [], claims: {}, ...raw } as ExternalIdentity;
  const policy = policyFromConfig(config);
  const grants = exampleRequestGrants(exampleRequests(rawRequests));
  const access = resolveAccess(identity, { ...policy, requestGrants: () => grants });
  // Requestable from mappings alone, as the gateway decides it.
  const requestable = requestOptions(resolveAccess(identity, policy), policy);
  if (options.json) {
    process.stdout.write(`${JSON.stringify({ ...access, requestable }, null, 2)}\n`);
    return;
  }
  const out: string[] = [`identity: ${identity.username} (connector ${identity.connector}, groups: ${identity.groups.join(', ') || 'none'})`, ''];
  out.push('roles:');
  for (const role of access.roles) {
    const from = [
      ...(access.explain.roles[role] ?? []).map((i) => `mappings.${i} ${JSON.stringify(config.mappings[i].match)}`),
      ...(access.explain.requests[role] ?? []).map((id) => `access request ${id}`),
    ];
    out.push(`  ${role.padEnd(24)} from ${from.join('; ')}`);
  }
  if (!access.roles.length) out.push('  (none: no mapping matched)');
  /** `role` or `role (access request ID)` when only a request grants that role. */
  const byRole = (role: string) => {
    const ids = access.explain.roles[role] ? [] : (access.explain.requests[role] ?? []);
    return ids.length ? `${role} (access request ${ids.join(', ')})` : role;
  };
  const section = (title: string, kind: string, values: string[]) => {
    out.push('', `${title}:`);
    for (const v of values) out.push(`  ${v.padEnd(24)} from role ${(access.explain.grants[`${kind}:${v}`] ?? []).map(byRole).join(', ')}`);
    if (!values.length) out.push('  (none)');
  };
  section('kubernetes groups', 'kubernetes_groups', access.kubernetesGroups);
  section('kubernetes users', 'kubernetes_users', access.kubernetesUsers);
  section('ssh logins', 'logins', access.logins);
  section('apps', 'apps', access.apps);
  out.push('', `audit: ${access.auditRead ? 'read (all events and recordings)' : 'own events only'}`);
  if (access.maxSessionTtlMs) out.push(`max session ttl: ${access.maxSessionTtlMs / 1000}s`);
  if (access.requests.length) {
    out.push('', 'access requests in effect (tokens and certificates end with the first):');
    for (const r of access.requests) out.push(`  ${r.id.padEnd(24)} ${r.roles.join(', ')} until ${new Date(r.expiresAt).toISOString()}`);
  }
  out.push('', 'may request:');
  for (const o of requestable) out.push(`  ${o.role.padEnd(24)} ${describeOption(o)}`);
  if (!requestable.length) out.push('  (nothing: no role of theirs has a request rule)');
  if (access.explain.unknownRoles.length) out.push(`note: mappings named undefined roles: ${access.explain.unknownRoles.join(', ')}`);
  if (access.explain.requestableMapped.length)
    out.push(`note: mappings named requestable roles, which only an approved access request grants: ${access.explain.requestableMapped.join(', ')}`);
  const ignored = grants.filter((g) => !access.requests.some((r) => r.id === g.id)).map((g) => g.id);
  if (ignored.length) out.push(`note: access requests that grant nothing (expired, or naming undefined roles only): ${ignored.join(', ')}`);
  process.stdout.write(`${out.join('\n')}\n`);
}
