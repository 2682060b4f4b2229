import { startEmbeddedIdp, type EmbeddedIdp, type EmbeddedIdpUser } from '../../../src/demo-idp/server.js';
import { startGateway, type TestGateway } from './gateway.js';
import { closedPort } from '../peers/services.js';

export const alice: EmbeddedIdpUser = { username: 'alice', password: 'alice-pw', email: 'alice@example.com', groups: ['admins', 'devs'] }; // secret-scan: allow
export const bob: EmbeddedIdpUser = { username: 'bob', password: 'bob-pw', email: 'bob@corp.example', groups: ['devs'] }; // secret-scan: allow

export interface SsoSetup {
  gw: TestGateway;
  idp: EmbeddedIdp & { url: string };
  stop(): Promise<void>;
}

/**
 * The embedded IdP with one client for a gateway at `publicUrl`, and the gateway's OIDC connector
 * `corp` ("Corp SSO") for it.
 */
export async function startCorpIdp(
  publicUrl: string,
  users: EmbeddedIdpUser[],
): Promise<{ idp: EmbeddedIdp & { url: string }; corp: Record<string, unknown> }> {
  const idp = await startEmbeddedIdp({
    users,
    clients: [
      {
        client_id: 'gatehouse',
        client_secret: 'corp-secret',
        redirect_uris: [`${publicUrl}/callback/corp`],
        post_logout_redirect_uris: [`${publicUrl}/login`],
      },
    ], // secret-scan: allow
  });
  const corp = {
    type: 'oidc',
    id: 'corp',
    name: 'Corp SSO',
    issuer: idp.issuer,
    client_id: 'gatehouse',
    client_secret: 'corp-secret',
    scopes: ['openid', 'email', 'profile', 'groups'],
  }; // secret-scan: allow
  return { idp, corp };
}

/**
 * A real IdP (oidc-provider with login and consent forms) and a gateway with one OIDC
 * connector `corp` ("Corp SSO") for it, plus whatever else the test configures.
 */
export async function startSso(extra: Record<string, unknown> = {}, users: EmbeddedIdpUser[] = [alice, bob]): Promise<SsoSetup> {
  const port = await closedPort();
  const gateway = `http://127.0.0.1:${port}`;
  const { idp, corp } = await startCorpIdp(gateway, users);
  const gw = await startGateway({ connectors: [corp], ...extra }, { port });
  return {
    gw,
    idp,
    async stop() {
      await gw.stop();
      await idp.close();
    },
  };
}

/** Policy used by CLI and kube tests: admins get platform-admins, devs get developers. */
export const kubePolicy = {
  roles: [
    { name: 'admin', kubernetes_groups: ['platform-admins'], audit: 'read' },
    { name: 'developer', kubernetes_groups: ['developers'] },
  ],
  mappings: [
    { match: { claim: 'groups', value: 'admins' }, roles: ['admin'] },
    { match: { claim: 'groups', value: 'devs' }, roles: ['developer'] },
  ],
};
