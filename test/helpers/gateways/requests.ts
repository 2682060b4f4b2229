import assert from 'node:assert/strict';
import type { AuditEvent } from '../../../src/audit/sink.js';
import type { ExternalIdentity } from '../../../src/core/types.js';
import type { EmbeddedIdpUser } from '../../../src/demo-idp/server.js';
import { GATEWAY_AUDIENCE, toClaims } from '../../../src/tokens/gateway-token.js';
import type { TestGateway } from './gateway.js';

// Setup the end-to-end tests of access requests share (test/e2e/requests-*.test.ts): the policy
// of issue 17 for one cluster and one node, two people, and the requests API as they call it.

/** A developer (groups devs) and an SRE lead (groups sre), both of connector `corp`. */
export const dave: EmbeddedIdpUser = { username: 'dave', password: 'dave-pw', email: 'dave@corp.example', groups: ['devs'] }; // secret-scan: allow
export const sam: EmbeddedIdpUser = { username: 'sam', password: 'sam-pw', email: 'sam@corp.example', groups: ['sre'] }; // secret-scan: allow

/** Nodes labelled env=prod are where both developer and prod-admin logins apply. */
export const PROD_LABELS = { env: 'prod' };

/**
 * Developers hold Kubernetes group developers and their own login on prod nodes, and may ask for
 * prod-admin (group prod-admins, login `adminLogin`) with a reason; one SRE lead approves.
 */
export function requestPolicy(adminLogin: string) {
  return {
    roles: [
      {
        name: 'developer',
        kubernetes_groups: ['developers'],
        logins: ['{{username}}'],
        node_labels: { env: ['prod'] },
        request: { roles: ['prod-admin'], reviewers: { roles: ['sre-lead'], approvals: 1 }, require_reason: true },
      },
      { name: 'sre-lead' },
      {
        name: 'prod-admin',
        requestable: true,
        max_duration: '1h',
        kubernetes_groups: ['prod-admins'],
        logins: [adminLogin],
        node_labels: { env: ['prod'] },
      },
    ],
    mappings: [
      { match: { claim: 'groups', value: 'devs' }, roles: ['developer'] },
      { match: { claim: 'groups', value: 'sre' }, roles: ['sre-lead'] },
    ],
  };
}

/** A person as the `corp` connector signs them in (the embedded IdP's subject is the username). */
const identityOf = (user: EmbeddedIdpUser): ExternalIdentity => ({
  connector: 'corp',
  subject: user.username,
  username: user.username,
  email: user.email,
  groups: user.groups,
  claims: {},
});

/** The fields of a RequestView these tests read. */
interface RequestView {
  id: string;
  state: string;
  roles: string[];
  reason: string;
  expires_at?: string;
}

/** The requests API, with gateway tokens minted in-process for each call (policy is re-resolved from the identity). */
export function requestsApi(gw: TestGateway) {
  const bearer = (user: EmbeddedIdpUser) =>
    gw.gateway.issuer.mint({ kind: 'access', audience: GATEWAY_AUDIENCE, ...toClaims(identityOf(user), { roles: [] }) });
  const call = async (user: EmbeddedIdpUser, method: string, path: string, body?: unknown) => {
    const res = await fetch(`${gw.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${await bearer(user)}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    return { status: res.status, body: (await res.json()) as RequestView & { error?: string } };
  };
  return {
    bearer,
    /** `POST /api/v1/requests` for prod-admin; must be accepted (201, pending). */
    async create(user: EmbeddedIdpUser, body: { reason: string; duration?: string | number }): Promise<RequestView> {
      const created = await call(user, 'POST', '/api/v1/requests', { roles: ['prod-admin'], ...body });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      assert.equal(created.body.state, 'pending');
      return created.body;
    },
    /** `POST /api/v1/requests/:id/review` approving; one approval makes it active. */
    async approve(reviewer: EmbeddedIdpUser, id: string): Promise<RequestView> {
      const reviewed = await call(reviewer, 'POST', `/api/v1/requests/${id}/review`, { decision: 'approve', comment: 'go ahead' });
      assert.equal(reviewed.status, 200, JSON.stringify(reviewed.body));
      assert.equal(reviewed.body.state, 'active');
      return reviewed.body;
    },
    /** `DELETE /api/v1/requests/:id`: the requester withdraws, or a reviewer revokes. */
    async drop(user: EmbeddedIdpUser, id: string): Promise<RequestView> {
      const dropped = await call(user, 'DELETE', `/api/v1/requests/${id}`);
      assert.equal(dropped.status, 200, JSON.stringify(dropped.body));
      assert.equal(dropped.body.state, 'revoked');
      return dropped.body;
    },
  };
}

/** The ids of the access requests an audit event says it was made under. */
export const requestIdsOf = (event: AuditEvent): string[] => ((event.details?.access_requests as { id: string }[] | undefined) ?? []).map((r) => r.id);
