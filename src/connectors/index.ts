import type { Router } from 'express';
import type { Config } from '../config/schema.js';
import type { Connector } from './connector.js';
import { createDemoConnector, DEMO_IDP_PATH } from './demo.js';
import type { EmbeddedIdpUser } from '../demo-idp/server.js';
import { createOidcConnector } from './oidc.js';
import { createSamlConnector } from './saml.js';
import { createXmllintValidator, type SchemaValidator } from './saml/checks/schema.js';
import { loadSpKeyPair } from './saml/sp-keys.js';
import samlify from 'samlify';
import type { Logger } from '../core/logger.js';
import type { Store } from '../store/store.js';
import type { AuditSink } from '../audit/sink.js';

export type { Connector } from './connector.js';

export interface Connectors {
  byId: Map<string, Connector>;
  /** Routers the web app mounts (the demo IdP). */
  mounts: { path: string; router: Router }[];
  demoUsers?: EmbeddedIdpUser[];
  close(): Promise<void>;
}

export const callbackUrl = (publicUrl: string, connectorId: string) => `${publicUrl}/callback/${connectorId}`;

export async function createConnectors(config: Config, deps: { store?: Store; logger?: Logger; audit?: AuditSink } = {}): Promise<Connectors> {
  const publicUrl = config.server.public_url;
  const result: Connectors = { byId: new Map(), mounts: [], close: async () => {} };
  const closers: (() => Promise<void>)[] = [];
  let schema: SchemaValidator | undefined;
  for (const c of config.connectors) {
    if (c.type === 'oidc') {
      result.byId.set(c.id, createOidcConnector(c, { redirectUri: callbackUrl(publicUrl, c.id), store: deps.store }));
    } else if (c.type === 'saml') {
      if (!deps.store) throw new Error('SAML connectors need the store (replay cache)');
      if (!schema) {
        schema = createXmllintValidator();
        // samlify keeps its validator process-wide; ours is stateless apart from a small memo.
        samlify.setSchemaValidator(schema);
      }
      const keys = await loadSpKeyPair({ keyFile: c.sp_key_file, certFile: c.sp_cert_file, dataDir: config.state.data_dir });
      result.byId.set(c.id, createSamlConnector(c, { publicUrl, keys, schema, store: deps.store, logger: deps.logger }));
    } else {
      const demo = await createDemoConnector(c, { publicUrl, store: deps.store, audit: deps.audit });
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
