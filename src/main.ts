import type { Server } from 'node:http';
import { join } from 'node:path';
import { policyFromConfig } from './access/index.js';
import { createFileAuditSink } from './audit/file.js';
import type { AuditSink } from './audit/sink.js';
import type { Config } from './config/schema.js';
import { createConnectors, type Connectors } from './connectors/index.js';
import { splitHostPort } from './config/demo.js';
import type { Logger } from './core/logger.js';
import { startDemoApp, type DemoApp } from './proxy/http/demo-app.js';
import { createHttpApps } from './proxy/http/index.js';
import { createSessionManager } from './sessions/sessions.js';
import { createStore } from './store/index.js';
import type { Store } from './store/store.js';
import { createTokenIssuer } from './tokens/issuer.js';
import { createKeyManager } from './tokens/keys.js';
import { createWebApp } from './web/app.js';
import { requestContext } from './web/context.js';
import { SESSION_COOKIE } from './web/deps.js';
import { errorPage } from './web/views/pages.js';
import { createCookiePolicy } from './web/cookies.js';
import { createHttpServer } from './web/server.js';

export interface Gateway {
  server: Server;
  store: Store;
  audit: AuditSink;
  connectors: Connectors;
  /** The URL it listens on (resolves port 0). */
  url(): string;
  start(): Promise<void>;
  /** Stops accepting, lets in-flight requests finish, then closes state and audit. */
  stop(): Promise<void>;
}

/** The composition root: builds every part from the config and wires them together. */
export async function createGateway(config: Config, options: { logger: Logger; demo?: boolean }): Promise<Gateway> {
  const { logger } = options;
  const store = createStore({ redisUrl: config.state.redis_url, prefix: config.state.redis_prefix, logger });
  const audit = createFileAuditSink({ dir: config.audit.dir ?? join(config.state.data_dir, 'audit') });
  const keys = createKeyManager({
    alg: config.tokens.signing_alg,
    store,
    dataDir: config.state.data_dir,
    rotateEveryMs: config.tokens.rotate_every,
    maxTokenTtlMs: config.tokens.ttl,
    logger,
  });
  const issuer = createTokenIssuer({ issuer: config.server.public_url, keys, defaultTtlMs: config.tokens.ttl });
  const sessions = createSessionManager({
    store,
    idleTtlMs: config.server.session.idle_ttl,
    absoluteTtlMs: config.server.session.absolute_ttl,
  });
  const connectors = await createConnectors(config);
  const cookies = createCookiePolicy(config.server.public_url);
  const policy = policyFromConfig(config);
  // The demo's app: a tiny upstream that shows (and verifies) what apps behind Gatehouse receive.
  const demoApp: DemoApp | undefined = options.demo && !config.apps.length ? await startDemoApp({ gatewayUrl: config.server.public_url }) : undefined;
  // HTTP apps and forward-auth are served before Express (src/proxy/http); logouts drop their cached decisions.
  const apps = createHttpApps({
    config: demoApp ? { ...config, apps: [demoApp.config] } : config,
    store, sessions, audit, issuer, policy, cookies, logger, sessionCookie: SESSION_COOKIE,
    page: (e) => errorPage({ ...e, demo: options.demo ?? false }),
    context: (req) => requestContext(req, config.server.trust_proxy_hops),
  });
  const app = createWebApp({ config, demo: options.demo ?? false, logger, store, sessions: apps.watchSessions(sessions), audit, keys, issuer, connectors, cookies, policy });
  const server = createHttpServer((req, res) => apps.handle(req, res) || app(req, res), { audit, logger });
  server.on('upgrade', (req, socket, head) => apps.upgrade(req, socket, head) || socket.destroy());
  // Large uploads to apps must not be cut at the 30 s whole-request limit; headersTimeout still
  // bounds slow headers and each app's idle timeout bounds a stalled body.
  if (apps.registry.apps.length) server.requestTimeout = 0;

  const [host, port] = splitHostPort(config.server.listen);
  return {
    server,
    store,
    audit,
    connectors,
    url() {
      const address = server.address();
      if (!address || typeof address === 'string') throw new Error('not listening');
      const h = address.family === 'IPv6' ? `[${address.address}]` : address.address;
      return `http://${h}:${address.port}`;
    },
    async start() {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => {
          server.off('error', reject);
          resolve();
        });
      });
      // Warm the keys so the first login does not pay for key generation; failures surface on /readyz.
      keys.active().catch((err) => logger.warn({ err: err.message }, 'signing keys not available yet'));
    },
    async stop() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
        setTimeout(() => server.closeAllConnections(), 10_000).unref();
      });
      await apps.close();
      await demoApp?.close();
      await connectors.close();
      await audit.close();
      await store.close();
    },
  };
}
