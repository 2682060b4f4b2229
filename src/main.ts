import type { Server } from 'node:http';
import { join } from 'node:path';
import { policyFromConfig } from './access/index.js';
import { createFileAuditSink } from './audit/file.js';
import type { AuditSink } from './audit/sink.js';
import type { Config } from './config/schema.js';
import { createConnectors, type Connectors } from './connectors/index.js';
import { splitHostPort } from './config/demo.js';
import type { Logger } from './core/logger.js';
import { createSessionManager } from './sessions/sessions.js';
import { createSshCa } from './ssh-ca/ca.js';
import { createSshProxy, type SshProxy } from './proxy/ssh/proxy.js';
import { createRecorder } from './recording/recorder.js';
import { createRecordingStore } from './recording/reader.js';
import { createStore } from './store/index.js';
import type { Store } from './store/store.js';
import { createTokenIssuer } from './tokens/issuer.js';
import { createKeyManager } from './tokens/keys.js';
import { createWebApp } from './web/app.js';
import { createCookiePolicy } from './web/cookies.js';
import { createHttpServer } from './web/server.js';

export interface Gateway {
  server: Server;
  store: Store;
  audit: AuditSink;
  connectors: Connectors;
  /** The SSH listener, when `ssh` is configured. */
  ssh?: SshProxy;
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
  const sshCa = createSshCa({ store, dataDir: config.state.data_dir, logger });
  const app = createWebApp({ config, demo: options.demo ?? false, logger, store, sessions, audit, keys, issuer, connectors, cookies, policy, sshCa, recordings: createRecordingStore(config.recordings.dir) });
  const server = createHttpServer(app, { audit, logger });
  const recorder = createRecorder({
    dir: config.recordings.dir,
    maxBytesPerSession: config.recordings.max_bytes_per_session,
    recordInput: config.recordings.record_input,
    onQuota: (meta) =>
      void audit
        .emit({ type: 'recording.quota', outcome: 'failure', user: meta.user, session_id: meta.id, reason: 'recording_quota', details: { node: meta.node, login: meta.login, max_bytes: config.recordings.max_bytes_per_session } })
        .catch((err) => logger.error({ err }, 'audit write failed')),
  });
  const ssh = config.ssh
    ? createSshProxy({
        config: config.ssh,
        hostPrincipals: config.ssh.host_principals ?? [...new Set([new URL(config.server.public_url).hostname, 'localhost', '127.0.0.1'])],
        ca: sshCa,
        policy,
        audit,
        store,
        recorder,
        logger,
      })
    : undefined;

  const [host, port] = splitHostPort(config.server.listen);
  return {
    server,
    store,
    audit,
    connectors,
    ssh,
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
      await ssh?.listen();
      // Warm the keys so the first login does not pay for key generation; failures surface on /readyz.
      keys.active().catch((err) => logger.warn({ err: err.message }, 'signing keys not available yet'));
    },
    async stop() {
      await ssh?.close();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
        setTimeout(() => server.closeAllConnections(), 10_000).unref();
      });
      await connectors.close();
      await audit.close();
      await store.close();
    },
  };
}
