/** Who the caller is: `GET /api/v1/whoami`. */
import { z } from 'zod';
import { errors, json, UNAUTHENTICATED, type ApiOperation } from './operation.js';

const names = z.array(z.string());

export const whoami = z
  .object({
    username: z.string(),
    email: z.string().nullable(),
    groups: names.describe('Groups from the identity provider.'),
    connector: z.string().describe('The connector (identity provider) the person signed in with.'),
    subject: z.string().describe('The subject at that identity provider.'),
    roles: names.describe('Gatehouse roles the current policy grants.'),
    kubernetes_groups: names,
    logins: names.describe('SSH logins the roles allow (on nodes whose labels they match).'),
    audit: z.enum(['read', 'own']).describe('`read`: every audit event and recording; `own`: only the caller’s.'),
    session: z.object({ created_at: z.iso.datetime(), expires_at: z.iso.datetime() }).nullable().describe('The browser session; null for a bearer token.'),
    access_requests: z
      .array(z.object({ id: z.string(), roles: names, expires_at: z.iso.datetime() }))
      .describe('Active access requests whose roles are included in `roles`.'),
  })
  .meta({ description: 'The caller and what the current policy grants them.' });
export type Whoami = z.infer<typeof whoami>;

export const identityOperations: ApiOperation[] = [
  {
    method: 'get',
    path: '/api/v1/whoami',
    tag: 'identity',
    summary: 'Who the caller is, and their roles, Kubernetes groups and SSH logins',
    auth: 'principal',
    responses: { 200: json('The caller.', 'Whoami', whoami), ...errors(UNAUTHENTICATED) },
  },
];
