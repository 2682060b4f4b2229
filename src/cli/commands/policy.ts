import { readFileSync } from 'node:fs';
import { policyFromConfig, resolveAccess } from '../../access/index.js';
import { loadConfigFile } from '../../config/load.js';
import type { ExternalIdentity } from '../../core/types.js';
import { UsageError } from '../errors.js';

/**
 * `gatehouse policy explain --identity file.json`: the roles, Kubernetes groups and users,
 * logins and apps an identity resolves to, and which mapping or role produced each.
 */
export function policyExplain(options: { config?: string; identity?: string; json?: boolean }): void {
  const path = options.config ?? process.env.GATEHOUSE_CONFIG ?? 'config/gatehouse.yaml';
  if (!options.identity) throw new UsageError('policy explain needs --identity FILE (JSON: connector, username, email, groups, claims)');
  const config = loadConfigFile(path);
  const raw = JSON.parse(readFileSync(options.identity, 'utf8')) as Partial<ExternalIdentity>;
  if (!raw.connector || !raw.username) throw new UsageError('the identity needs at least "connector" and "username"');
  const identity: ExternalIdentity = { subject: raw.username, groups: [], claims: {}, ...raw } as ExternalIdentity;
  const access = resolveAccess(identity, policyFromConfig(config));
  if (options.json) {
    process.stdout.write(`${JSON.stringify(access, null, 2)}\n`);
    return;
  }
  const out: string[] = [`identity: ${identity.username} (connector ${identity.connector}, groups: ${identity.groups.join(', ') || 'none'})`, ''];
  out.push('roles:');
  for (const role of access.roles) {
    const from = access.explain.roles[role].map((i) => `mappings.${i} ${JSON.stringify(config.mappings[i].match)}`);
    out.push(`  ${role.padEnd(24)} from ${from.join('; ')}`);
  }
  if (!access.roles.length) out.push('  (none: no mapping matched)');
  const section = (title: string, kind: string, values: string[]) => {
    out.push('', `${title}:`);
    for (const v of values) out.push(`  ${v.padEnd(24)} from role ${(access.explain.grants[`${kind}:${v}`] ?? []).join(', ')}`);
    if (!values.length) out.push('  (none)');
  };
  section('kubernetes groups', 'kubernetes_groups', access.kubernetesGroups);
  section('kubernetes users', 'kubernetes_users', access.kubernetesUsers);
  section('ssh logins', 'logins', access.logins);
  section('apps', 'apps', access.apps);
  out.push('', `audit: ${access.auditRead ? 'read (all events and recordings)' : 'own events only'}`);
  if (access.maxSessionTtlMs) out.push(`max session ttl: ${access.maxSessionTtlMs / 1000}s`);
  if (access.explain.unknownRoles.length) out.push(`note: mappings named undefined roles: ${access.explain.unknownRoles.join(', ')}`);
  process.stdout.write(`${out.join('\n')}\n`);
}
