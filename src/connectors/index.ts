import type { Router } from 'express';
import type { Config } from '../config/schema.js';
import type { Connector } from './connector.js';
import { createDemoConnector, DEMO_IDP_PATH } from './demo.js';
import type { EmbeddedIdpUser } from './embedded-idp.js';
import { createOidcConnector } from './oidc.js';

export type { Connector } from './connector.js';

export interface Connectors {
  byId: Map<string, Connector>;
  /** Routers the web app mounts (the demo IdP). */
  mounts: { path: string; router: Router }[];
  demoUsers?: EmbeddedIdpUser[];
  close(): Promise<void>;
}

export const callbackUrl = (publicUrl: string, connectorId: string) => `${publicUrl}/callback/${connectorId}`;

export async function createConnectors(config: Config): Promise<Connectors> {
  const publicUrl = config.server.public_url;
  const result: Connectors = { byId: new Map(), mounts: [], close: async () => {} };
  const closers: (() => Promise<void>)[] = [];
  for (const c of config.connectors) {
    if (c.type === 'oidc') {
      result.byId.set(c.id, createOidcConnector(c, { redirectUri: callbackUrl(publicUrl, c.id) }));
    } else {
      const demo = await createDemoConnector(c, { publicUrl });
      result.byId.set(c.id, demo.connector);
      result.mounts.push({ path: DEMO_IDP_PATH, router: demo.router });
      result.demoUsers = demo.users;
      closers.push(demo.close);
    }
  }
  result.close = async () => {
    await Promise.all(closers.map((close) => close()));
  };
  return result;
}
