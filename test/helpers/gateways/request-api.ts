import { GATEWAY_AUDIENCE } from '../../../src/tokens/gateway-token.js';
import type { TestGateway } from './gateway.js';

/** Roles and mappings of the requests contract: developers ask for prod-admin, an SRE lead approves. */
export const REQUEST_POLICY = {
  roles: [
    { name: 'developer', logins: ['{{username}}'], request: { roles: ['prod-admin'], reviewers: { roles: ['sre-lead'], approvals: 1 }, require_reason: true } },
    { name: 'sre-lead' },
    { name: 'prod-admin', kubernetes_groups: ['prod-admins'], logins: ['root'], requestable: true, max_duration: '4h' },
    { name: 'breakglass', requestable: true },
    { name: 'auditor', audit: 'read' },
  ],
  mappings: [
    { match: { claim: 'groups', value: 'devs' }, roles: ['developer'] },
    { match: { claim: 'groups', value: 'sre' }, roles: ['sre-lead'] },
    { match: { claim: 'groups', value: 'audit' }, roles: ['auditor'] },
  ],
  connectors: [{ type: 'demo', id: 'demo' }],
};

export type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

export const people = { dave: ['devs'], erin: ['devs', 'sre'], sam: ['sre'], tara: ['sre'], vic: ['devs'], ann: ['audit'] } as const;

/** The requests API as the people of REQUEST_POLICY (bearer tokens minted by the gateway itself). */
export function requestClient(gw: TestGateway) {
  const token = (user: keyof typeof people) =>
    gw.gateway.issuer.mint({
      subject: `demo:${user}`,
      audience: GATEWAY_AUDIENCE,
      claims: { preferred_username: user, groups: people[user], connector: 'demo' },
    });
  const call = async (user: keyof typeof people, method: string, path: string, body?: unknown): Promise<{ status: number; body: Json }> => {
    const res = await fetch(`${gw.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${await token(user)}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    return { status: res.status, body: (await res.json()) as Json };
  };
  return {
    call,
    create: (user: keyof typeof people, body: unknown) => call(user, 'POST', '/api/v1/requests', body),
    review: (user: keyof typeof people, id: string, decision: 'approve' | 'deny', comment?: string) =>
      call(user, 'POST', `/api/v1/requests/${id}/review`, { decision, comment }),
    roles: async (user: keyof typeof people) => (await call(user, 'GET', '/api/v1/whoami')).body.roles as string[],
  };
}
