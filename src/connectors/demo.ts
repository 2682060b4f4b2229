import type { Router } from 'express';
import type { AuditSink } from '../audit/sink.js';
import type { DemoConnectorConfig } from '../config/schema.js';
import type { Store } from '../store/store.js';
import { randomId } from '../core/ids.js';
import type { Connector } from './connector.js';
import { createEmbeddedIdp, type EmbeddedIdpUser } from '../demo-idp/server.js';
import { createOidcConnector } from './oidc.js';

export const DEMO_IDP_PATH = '/demo-idp';

export interface DemoConnector {
  connector: Connector;
  /** Mount at DEMO_IDP_PATH on the gateway's own web app. */
  router: Router;
  users: EmbeddedIdpUser[];
  close(): Promise<void>;
}

/** Default demo people; passwords are fresh each start and printed in the banner. */
const demoUsers = (): EmbeddedIdpUser[] => [
  { username: 'alice', password: `alice-${randomId(6)}`, email: 'alice@demo.gatehouse.test', name: 'Alice Admin', groups: ['admins', 'devs'] },
  { username: 'bob', password: `bob-${randomId(6)}`, email: 'bob@demo.gatehouse.test', name: 'Bob Builder', groups: ['devs'] },
];

/**
 * The first-run IdP: a real OpenID Provider served by the gateway itself under
 * /demo-idp, reached through the ordinary OIDC connector, so the demo exercises
 * exactly the login path a production IdP would.
 */
export async function createDemoConnector(
  config: DemoConnectorConfig,
  options: { publicUrl: string; store?: Store; audit?: AuditSink },
): Promise<DemoConnector> {
  const issuer = `${options.publicUrl}${DEMO_IDP_PATH}`;
  const redirectUri = `${options.publicUrl}/callback/${config.id}`;
  const clientSecret = randomId(24);
  const users: EmbeddedIdpUser[] = config.users?.map((u) => ({ ...u, name: u.username })) ?? demoUsers();
  const idp = await createEmbeddedIdp({
    issuer,
    users,
    clients: [{ client_id: 'gatehouse', client_secret: clientSecret, redirect_uris: [redirectUri], post_logout_redirect_uris: [`${options.publicUrl}/login`] }],
    // Password guesses are limited per username and per address, in the gateway's store.
    loginLimit: options.store ? { store: options.store, audit: options.audit, connector: config.id } : undefined,
  });
  const connector = createOidcConnector(
    {
      type: 'oidc',
      id: config.id,
      name: config.name,
      issuer,
      client_id: 'gatehouse',
      client_secret: clientSecret,
      scopes: ['openid', 'email', 'profile', 'groups'],
      claims: { username: 'preferred_username', email: 'email', groups: 'groups' },
      userinfo: false,
      rp_initiated_logout: true,
      // The embedded IdP sends no back-channel logout.
      backchannel_logout: false,
      auth_params: {},
      groups_prefix: config.groups_prefix,
    },
    { redirectUri },
  );
  return { connector, router: idp.router, users, close: () => idp.close() };
}
