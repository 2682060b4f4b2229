import type { ExternalIdentity } from '../core/types.js';
import { claimValues } from './claims.js';

const TEMPLATE = /\{\{\s*([a-z_]+)(?:\.([A-Za-z0-9_.-]+))?\s*\}\}/g;

/**
 * Expands templates in policy values, one output per upstream value:
 * `{{external.<claim>}}` (upstream claim or attribute; `external.groups` carries the connector's
 * group prefix), `{{email}}`, `{{email.local}}`, `{{email.domain}}`, `{{username}}`.
 * A value whose template has no upstream value is dropped.
 */
export function expandTemplates(values: string[], identity: ExternalIdentity, groupPrefix: string): string[] {
  const out: string[] = [];
  for (const value of values) {
    const refs = [...value.matchAll(TEMPLATE)];
    if (!refs.length) {
      out.push(value);
      continue;
    }
    let results = [value];
    for (const ref of refs) {
      const substitutes = resolve(ref[1], ref[2], identity, groupPrefix);
      results = results.flatMap((r) => substitutes.map((s) => r.replace(ref[0], s)));
    }
    out.push(...results.filter((r) => r.length > 0));
  }
  return out;
}

function resolve(namespace: string, field: string | undefined, identity: ExternalIdentity, groupPrefix: string): string[] {
  const email = identity.email ?? '';
  switch (namespace) {
    case 'external':
      if (!field) return [];
      return field === 'groups' ? identity.groups.map((g) => groupPrefix + g) : claimValues(identity, field);
    case 'email':
      if (!email) return [];
      if (field === 'local') return [email.split('@')[0]];
      if (field === 'domain') return [email.split('@')[1] ?? ''];
      return [email];
    case 'username':
      return [identity.username];
    default:
      return [];
  }
}
