// The demo IdP's server: builds the provider (loading oidc-provider only now, so a gateway without
// a demo connector never loads it), mounts interactions and the provider on one router, and
// `startEmbeddedIdp` listens on an ephemeral port for tests and tools.
//
// Used as Gatehouse's demo-mode IdP (users alice/bob) and by integration tests as a real upstream
// IdP with real login and consent forms. Everything is in memory: signing key and cookie keys are
// generated at start, so tokens and sessions do not survive a restart.
//
// Mounting: `router` must be mounted at the issuer's path, e.g. issuer
// `http://127.0.0.1:8080/demo-idp` → `app.use('/demo-idp', idp.router)`. oidc-provider derives its
// own URLs from `req.originalUrl` minus the (express-stripped) `req.url`, so it sees the right path
// behind the prefix. Do not put a global body parser in front of the router (oidc-provider parses
// its own bodies and warns when it finds a pre-parsed one).
import * as http from 'node:http';

import express, { type NextFunction, type Request, type Response } from 'express';
import { closeGracefully, listen } from '../core/http-server.js';

import { MemoryStore } from './adapter.js';
import { createProviderConfiguration, DEFAULT_ID_TOKEN_TTL, DEFAULT_TITLE, indexUsers, issuerPathOf } from './configuration.js';
import { mountInteractions } from './interactions.js';
import type { EmbeddedIdp, EmbeddedIdpOptions } from './types.js';

export type { EmbeddedIdp, EmbeddedIdpOptions, EmbeddedIdpUser } from './types.js';

export async function createEmbeddedIdp(options: EmbeddedIdpOptions): Promise<EmbeddedIdp> {
  const issuer = options.issuer.replace(/\/+$/, '');
  const issuerPath = issuerPathOf(issuer);
  const title = options.title ?? DEFAULT_TITLE;
  const idTokenTtl = options.idTokenTtlSeconds ?? DEFAULT_ID_TOKEN_TTL;
  if (!Number.isInteger(idTokenTtl) || idTokenTtl <= 0) {
    throw new TypeError('embedded IdP: idTokenTtlSeconds must be a positive integer');
  }
  const users = indexUsers(options.users);
  const store = new MemoryStore();
  const configuration = await createProviderConfiguration({ issuer, issuerPath, title, idTokenTtl, users, clients: options.clients, store });

  // Loaded here, not at the top: production configs without a demo connector never load it.
  const { default: Provider, errors } = await import('oidc-provider');
  const provider = new Provider(issuer, configuration);
  // Let koa inherit express's view of protocol/host/ip (see the handler below), so that
  // `trust proxy` on the host app decides, and cookies get `secure` only on https.
  provider.proxy = true;

  const router = express.Router();
  mountInteractions(router, { provider, errors, issuerPath, title, users, loginLimit: options.loginLimit });

  const callback = provider.callback();
  router.use((req: Request, res: Response, next: NextFunction) => {
    if (req.baseUrl.replace(/\/+$/, '') !== issuerPath) {
      next(new Error(`embedded IdP router is mounted at "${req.baseUrl || '/'}" but the issuer path is "${issuerPath || '/'}"`));
      return;
    }
    // provider.proxy = true: hand koa the values express computed (honouring its `trust proxy`).
    req.headers['x-forwarded-proto'] = req.protocol;
    req.headers['x-forwarded-host'] = req.host;
    if (req.ip) req.headers['x-forwarded-for'] = req.ip;
    else delete req.headers['x-forwarded-for'];
    callback(req, res).catch(next);
  });

  return {
    issuer,
    router,
    async close() {
      store.clear();
    },
  };
}

/** A standalone IdP on an ephemeral port; its issuer is its own URL. */
export async function startEmbeddedIdp(options: Omit<EmbeddedIdpOptions, 'issuer'> & { host?: string }): Promise<EmbeddedIdp & { url: string }> {
  const { host = '127.0.0.1', ...rest } = options;
  let handler: http.RequestListener = (_req, res) => {
    res.statusCode = 503;
    res.end();
  };
  const server = http.createServer((req, res) => handler(req, res));
  const { port } = await listen(server, 0, host);
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;

  const closeServer = () => closeGracefully(server, 0);

  let idp: EmbeddedIdp;
  try {
    idp = await createEmbeddedIdp({ ...rest, issuer: url });
  } catch (err) {
    await closeServer();
    throw err;
  }

  const app = express();
  app.disable('x-powered-by');
  app.use('/', idp.router);
  handler = app;

  return {
    issuer: idp.issuer,
    router: idp.router,
    url,
    async close() {
      await closeServer();
      await idp.close();
    },
  };
}
