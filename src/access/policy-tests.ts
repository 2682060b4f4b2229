import type { ExternalIdentity } from '../core/types.js';
import { resolveAccess, type Access, type Policy } from './policy.js';

export interface PolicyTest {
  name?: string;
  identity: Omit<ExternalIdentity, 'subject'> & { subject?: string };
  expect: { roles?: string[]; kubernetes_groups?: string[]; kubernetes_users?: string[]; logins?: string[]; apps?: string[] };
}

const FIELDS: [keyof PolicyTest['expect'], (a: Access) => string[]][] = [
  ['roles', (a) => a.roles],
  ['kubernetes_groups', (a) => a.kubernetesGroups],
  ['kubernetes_users', (a) => a.kubernetesUsers],
  ['logins', (a) => a.logins],
  ['apps', (a) => a.apps],
];

/** Runs the config's `tests:`; returns one line per mismatch (empty when all pass). */
export function runPolicyTests(policy: Policy, tests: PolicyTest[]): string[] {
  const failures: string[] = [];
  tests.forEach((t, i) => {
    const access = resolveAccess({ subject: t.identity.username, ...t.identity }, policy);
    for (const [field, actual] of FIELDS) {
      const expected = t.expect[field];
      if (!expected) continue;
      const got = actual(access);
      if ([...expected].sort().join('\n') !== got.join('\n')) {
        failures.push(`tests.${i}${t.name ? ` (${t.name})` : ''}: ${field} expected [${[...expected].sort().join(', ')}] but got [${got.join(', ')}]`);
      }
    }
  });
  return failures;
}
