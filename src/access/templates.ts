import type { ExternalIdentity } from '../core/types.js';
import { claimValues } from './claims.js';

/**
 * The one template syntax, for role lists (expandTemplates) and app headers (renderTemplate):
 * `{{username}}`, `{{email}}`, `{{email.local}}`, `{{email.domain}}`, `{{connector}}`,
 * `{{subject}}`, `{{groups}}`, `{{roles}}` (headers only: roles are what policy decides) and
 * `{{external.<claim>}}` (an upstream claim or attribute; `external.groups` carries the connector's
 * group prefix). Values are substituted in one pass, so a value from the IdP is never expanded again.
 */
const REFERENCE = /\{\{\s*([a-z_]+)(?:\.([A-Za-z0-9_.-]+))?\s*\}\}/g;

interface TemplateValues {
  /** The connector's groups prefix, for `{{external.groups}}`. */
  groupPrefix: string;
  /** The person's roles, once policy has decided them. */
  roles?: string[];
}

/** A reference's values; `list` for the multi-valued ones (groups, roles, claims). */
interface Resolved {
  values: string[];
  list: boolean;
}

const one = (value: string): Resolved => ({ values: [value], list: false });
const many = (values: string[]): Resolved => ({ values, list: true });
const nothing: Resolved = { values: [], list: false };

function resolve(namespace: string, field: string | undefined, identity: ExternalIdentity, t: TemplateValues): Resolved {
  const email = identity.email ?? '';
  switch (namespace) {
    case 'username':
      return one(identity.username);
    case 'connector':
      return one(identity.connector);
    case 'subject':
      return one(identity.subject);
    case 'email':
      if (!email) return nothing;
      return one(field === 'local' ? email.split('@')[0] : field === 'domain' ? (email.split('@')[1] ?? '') : email);
    case 'groups':
      return many(identity.groups);
    case 'roles':
      return t.roles ? many(t.roles) : nothing;
    case 'external':
      if (!field) return nothing;
      return many(field === 'groups' ? identity.groups.map((g) => t.groupPrefix + g) : claimValues(identity, field));
    default:
      return nothing;
  }
}

/**
 * Expands templates in policy values, one output per combination of upstream values. A value
 * whose template has no upstream value (or that expands to nothing) is dropped.
 */
export function expandTemplates(values: string[], identity: ExternalIdentity, groupPrefix: string): string[] {
  const out: string[] = [];
  for (const value of values) {
    if (!value.includes('{{')) {
      out.push(value);
      continue;
    }
    let results = [''];
    let last = 0;
    for (const ref of value.matchAll(REFERENCE)) {
      const literal = value.slice(last, ref.index);
      const substitutes = resolve(ref[1], ref[2], identity, { groupPrefix }).values;
      results = results.flatMap((r) => substitutes.map((s) => r + literal + s));
      last = ref.index + ref[0].length;
    }
    out.push(...results.map((r) => r + value.slice(last)).filter((r) => r.length > 0));
  }
  return out;
}

/**
 * Renders a template to one string (app headers): lists are joined with `,` after `listItem`
 * encodes each item; a reference without a value renders as nothing.
 */
export function renderTemplate(template: string, identity: ExternalIdentity, t: TemplateValues & { listItem?: (item: string) => string }): string {
  return template.replace(REFERENCE, (_m, namespace: string, field: string | undefined) => {
    const { values, list } = resolve(namespace, field, identity, t);
    return (list && t.listItem ? values.map(t.listItem) : values).join(',');
  });
}
