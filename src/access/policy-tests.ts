import type { ExternalIdentity } from '../core/types.js';
import { resolveAccess, type Access, type Policy, type RequestGrant } from './policy.js';
import { requestOptions } from './requests.js';

/** An approved access request an example identity holds (policy tests, `policy explain`). */
export interface ExampleRequest {
  id?: string;
  roles: string[];
  /** RFC 3339; default: an hour from now. */
  expires_at?: string;
}

export interface PolicyTest {
  name?: string;
  identity: Omit<ExternalIdentity, 'subject'> & { subject?: string; access_requests?: ExampleRequest[] };
  expect: { roles?: string[]; kubernetes_groups?: string[]; kubernetes_users?: string[]; logins?: string[]; apps?: string[]; requestable?: string[] };
}

const EXAMPLE_REQUEST_TTL_MS = 3_600_000;

/** Example requests as policy's request grants: ids default to `test-request-<n>`, expiry to an hour from now. */
export function exampleRequestGrants(requests: ExampleRequest[], now = Date.now()): RequestGrant[] {
  return requests.map((r, i) => ({
    id: r.id ?? `test-request-${i + 1}`,
    roles: r.roles,
    expiresAt: r.expires_at === undefined ? now + EXAMPLE_REQUEST_TTL_MS : Date.parse(r.expires_at),
    reason: '',
  }));
}

type Field = Exclude<keyof PolicyTest['expect'], 'requestable'>;

const FIELDS: [Field, (a: Access) => string[]][] = [
  ['roles', (a) => a.roles],
  ['kubernetes_groups', (a) => a.kubernetesGroups],
  ['kubernetes_users', (a) => a.kubernetesUsers],
  ['logins', (a) => a.logins],
  ['apps', (a) => a.apps],
];

/** Why an example request could never be approved as written: a role that is undefined or not requestable. */
function requestProblems(policy: Policy, requests: ExampleRequest[]): string[] {
  const defined = new Map(policy.roles.map((r) => [r.name, r]));
  return requests.flatMap((r, i) =>
    r.roles.flatMap((role, j) => {
      const spec = defined.get(role);
      const at = `identity.access_requests.${i}.roles.${j}`;
      if (!spec) return [`${at}: no role is named "${role}"`];
      return spec.requestable ? [] : [`${at}: "${role}" is not requestable (set requestable: true on the role)`];
    }),
  );
}

/** Runs the config's `tests:`; returns one line per mismatch (empty when all pass). */
export function runPolicyTests(policy: Policy, tests: PolicyTest[]): string[] {
  const failures: string[] = [];
  tests.forEach((t, i) => {
    const label = `tests.${i}${t.name ? ` (${t.name})` : ''}`;
    const { access_requests: requests, ...rest } = t.identity;
    const identity: ExternalIdentity = { subject: rest.username, ...rest };
    const problems = requestProblems(policy, requests ?? []);
    failures.push(...problems.map((p) => `${label}: ${p}`));
    if (problems.length) return;
    const grants = exampleRequestGrants(requests ?? []);
    const access = resolveAccess(identity, { ...policy, requestGrants: () => grants });
    const compare = (field: string, expected: string[] | undefined, got: string[]) => {
      if (!expected) return;
      const want = [...expected].sort();
      if (want.join('\n') !== got.join('\n')) failures.push(`${label}: ${field} expected [${want.join(', ')}] but got [${got.join(', ')}]`);
    };
    for (const [field, actual] of FIELDS) compare(field, t.expect[field], actual(access));
    // What may be requested never depends on requests held (src/access/requests.ts).
    const base = resolveAccess(identity, { ...policy, requestGrants: undefined });
    compare(
      'requestable',
      t.expect.requestable,
      requestOptions(base, policy).map((o) => o.role),
    );
  });
  return failures;
}
