import type { Server } from 'node:http';
import { bestEffort } from './audit/sink.js';
import { entitle, policyFromConfig } from './access/index.js';
import { createAuditBackend, type AuditBackend } from './audit/index.js';
import { sshHostPrincipals } from './config/load.js';
import { DEFAULT_SSH_CERT_TTL_MS, type Config } from './config/schema.js';
import { createConnectors, type Connectors } from './connectors/index.js';
import { splitHostPort } from './core/hosts.js';
import { closeGracefully, listen } from './core/http-server.js';
import type { Logger } from './core/logger.js';
import { createSessionManager } from './sessions/sessions.js';
import { createUpstreamGrants } from './sessions/upstream.js';
import { GatehouseError } from './core/errors.js';
import { createMetrics, type Metrics } from './metrics/metrics.js';
// The cluster primary (src/cli/workers.ts) aggregates the workers' metrics; cli may not import metrics itself.
export { clusterMetricsPrimary } from './metrics/cluster.js';
import { createSshCa } from './ssh-ca/ca.js';
import { createRevocations } from './ssh-ca/revocation.js';
import { createSshProxy, type SshProxy } from './proxy/ssh/proxy.js';
import { createRecorder } from './recording/recorder.js';
import { createRecordingStore } from './recording/reader.js';
import { startDemoApp, type DemoApp } from './proxy/http/demo-app.js';
import { createHttpApps } from './proxy/http/index.js';
import { createStore } from './store/index.js';
import type { Store } from './store/store.js';
import { createTokenIssuer, type TokenIssuer } from './tokens/issuer.js';
import { createOAuthServer } from './tokens/oauth/server.js';
import { createTokenReviewHandler } from './tokens/tokenreview.js';
import { createTokenRevocations } from './tokens/revocations.js';
import { createAudienceRegistry } from './core/audiences.js';
import { createKubeProxy, execRecorder, type KubeProxy } from './proxy/kube/index.js';
import { KUBE_USERNAME_PREFIX } from './kube/names.js';
import { requestContext } from './core/request-context.js';
import { SESSION_COOKIE } from './web/deps.js';
import { errorPage } from './web/views/pages.js';
import { GATEWAY_AUDIENCE } from './web/principal.js';
import { createKeyManager } from './tokens/keys.js';
import { createWebApp } from './web/app.js';
import { createCookiePolicy } from './web/cookies.js';
import { createHttpServer } from './web/server.js';
import { createWebTerminal } from './proxy/ssh/terminal/websocket.js';
import { createDbProxy, type DbProxy } from './proxy/db/listener.js';
import { createDbCa } from './db-ca/ca.js';
import { dbListenerHosts } from './config/databases.js';
import { DEMO_NODE_NAME } from './config/demo.js';
import { startDemoNode } from './demo-node/server.js';
import { parsePublicKeyLine } from './ssh-ca/keys.js';
import { createRequests } from './requests/index.js';
import { createRequestNotifier } from './requests/notify.js';

export interface Gateway {
  config: Config;
  metrics: Metrics;
  server: Server;
  /** The gateway's token issuer (tests and tools mint gateway tokens with it). */
  issuer: TokenIssuer;
  store: Store;
  /** The audit log: what capabilities emit through, plus query and verify. */
  audit: AuditBackend;
  connectors: Connectors;
  /** The Kubernetes API proxy (its own HTTPS listener), when kube_proxy is configured. */
  kubeProxy?: KubeProxy;
  /** The SSH listener, when `ssh` is configured. */
  ssh?: SshProxy;
  /** The database listener, when `db` is configured. */
  db?: DbProxy;
  /** The URL it listens on (resolves port 0). */
  url(): string;
  /**
   * Applies a new config's policy (roles, mappings, tests) and clusters without a restart: the
   * next request, refresh or TokenReview uses them. Other sections need a restart.
   */
  reloadPolicy(next: Config): void;
  start(): Promise<void>;
  /** Stops accepting, lets in-flight requests finish, then closes state and audit. */
  stop(): Promise<void>;
}

/**
 * The composition root: builds every part from the config and wires them together.
 * `clusterWorker`: one of several `server.workers` processes (src/cli/workers.ts); /metrics then sums them all.
 */
export async function createGateway(config: Config, options: { logger: Logger; demo?: boolean; clusterWorker?: boolean }): Promise<Gateway> {
  const { logger } = options;
  // Metric labels come only from configured ids (config.clusters is updated in place on reload).
  const metrics = createMetrics(
    {
      isConnector: (id) => config.connectors.some((c) => c.id === id),
      isCluster: (name) => config.clusters.some((c) => c.name === name),
    },
    { clusterWorker: options.clusterWorker },
  );
  const lifecycle = { draining: false };
  const store = metrics.instrumentStore(createStore({ redisUrl: config.state.redis_url, prefix: config.state.redis_prefix, logger }));
  const policy = policyFromConfig(config);
  // Access requests (src/requests): policy reads their grants, and audit events carry them.
  const auditLog = metrics.instrumentAudit(createAuditBackend(config.audit, { dataDir: config.state.data_dir, logger }));
  // Notification events name their request themselves, so the notifier writes to the log directly.
  const notifier = createRequestNotifier({ notifications: config.notifications, publicUrl: config.server.public_url, audit: auditLog, logger });
  const requests = createRequests({
    store,
    policy,
    logger,
    pendingTtlMs: config.access_requests.pending_ttl,
    retentionMs: config.access_requests.retention,
    notify: notifier.notify,
  });
  const audit = requests.withEvidence(auditLog);
  const accessRequests = requests.service(audit);
  metrics.gaugeFrom('gatehouse_audit_spool_depth', 'Audit events waiting in the local spool', async () => (await audit.status()).spooled ?? 0);
  const keys = createKeyManager({
    alg: config.tokens.signing_alg,
    store,
    dataDir: config.state.data_dir,
    rotateEveryMs: config.tokens.rotate_every,
    maxTokenTtlMs: config.tokens.ttl,
    logger,
  });
  const publicUrl = config.server.public_url;
  const tokenRevocations = createTokenRevocations({ store, tokenTtlMs: config.tokens.ttl, audit });
  const audiences = createAudienceRegistry(() => ({ clusters: config.clusters, apps: config.apps, cliClientId: config.cli.client_id }));
  const issuer = createTokenIssuer({
    issuer: publicUrl,
    keys,
    defaultTtlMs: config.tokens.ttl,
    // Revoked logins, and tokens minted under an access request that has ended.
    isRevoked: async (claims) => (await tokenRevocations.isRevoked(claims)) || requests.grants.endedAmong(claims.access_requests),
    metadata: {
      authorization_endpoint: `${publicUrl}/oauth/authorize`,
      token_endpoint: `${publicUrl}/oauth/token`,
      device_authorization_endpoint: `${publicUrl}/oauth/device_authorization`,
      revocation_endpoint: `${publicUrl}/oauth/revoke`,
      grant_types_supported: ['authorization_code', 'refresh_token', 'urn:ietf:params:oauth:grant-type:device_code'],
      code_challenge_methods_supported: ['S256'],
      token_endpoint_auth_methods_supported: ['none'],
      scopes_supported: ['openid', 'email', 'profile', 'groups', 'offline_access'],
      authorization_response_iss_parameter_supported: true,
    },
  });
  const connectors = await createConnectors(config, { store, logger, audit });
  // People whose login gave a refresh token are asked again at their IdP: at every CLI or cluster
  // token refresh, and once a minute per browser session (src/sessions/upstream.ts).
  const upstream = createUpstreamGrants({
    store,
    ttlMs: Math.max(config.server.session.absolute_ttl, config.cli.refresh_ttl),
    refresh: async (previous, refreshToken) => {
      const refresh = connectors.byId.get(previous.connector)?.refresh;
      if (!refresh) throw new GatehouseError('upstream_revoked', 'The sign-in method of this login is no longer configured.', { status: 401 });
      return refresh({ refreshToken, previous });
    },
    logger,
  });
  const sessions = createSessionManager({
    store,
    idleTtlMs: config.server.session.idle_ttl,
    absoluteTtlMs: config.server.session.absolute_ttl,
    logger,
    upstream,
    onUpstreamRevoked: (e) =>
      bestEffort(
        audit,
        logger,
      )({
        type: 'user.upstream_revoked',
        outcome: 'failure',
        user: e.identity.username,
        connector: e.identity.connector,
        session_id: e.sessionRef,
        reason: e.reason,
        details: { via: e.via, upstream_error: e.message },
      }),
  });
  const cookies = createCookiePolicy(config.server.public_url);
  const sshCa = createSshCa({ store, dataDir: config.state.data_dir, logger });
  const sshRevocations = createRevocations(store, { maxCertTtlMs: config.ssh?.cert_ttl ?? DEFAULT_SSH_CERT_TTL_MS });
  // The demo's toy SSH node (src/demo-node), trusting our user CA; its entry gets the address and pinned host key.
  const demoNodeEntry = options.demo ? config.ssh?.nodes.find((n) => n.name === DEMO_NODE_NAME) : undefined;
  const demoNode = demoNodeEntry
    ? await startDemoNode({ hostname: DEMO_NODE_NAME, trustedUserCas: async () => (await sshCa.userCaLines()).map((l) => parsePublicKeyLine(l).blob), logger })
    : undefined;
  if (demoNode) Object.assign(demoNodeEntry!, { addr: demoNode.addr, host_key: demoNode.hostKey });
  const clusterAudiences = () => audiences.clusterAudiences();
  const oauth = createOAuthServer({
    store,
    issuer,
    gatewayAudience: GATEWAY_AUDIENCE,
    clientId: config.cli.client_id,
    resources: clusterAudiences,
    entitle: (identity, audience) => entitle(identity, audience, policy, config.clusters, GATEWAY_AUDIENCE),
    revocations: tokenRevocations,
    tokenTtlMs: config.tokens.ttl,
    refreshTtlMs: config.cli.refresh_ttl,
    verificationUri: `${publicUrl}/device`,
    upstream: (identity) => sessions.recheck(identity),
  });
  // Clusters with mode: proxy need kube_proxy: the config schema refuses one without it.
  // Created below, once the recorder exists; the API reads it per request.
  const kubeProxyRef = config.kube_proxy ? { clusterUrl: (name: string) => kubeProxy!.clusterUrl(name), caPem: () => kubeProxy!.caPem() } : undefined;
  // The demo's app: a tiny upstream that shows (and verifies) what apps behind Gatehouse receive.
  const demoApp: DemoApp | undefined = options.demo && !config.apps.length ? await startDemoApp({ gatewayUrl: config.server.public_url }) : undefined;
  if (demoApp) config.apps.push(demoApp.config); // listed on "My access" like any app
  // HTTP apps and forward-auth are served before Express (src/proxy/http); session ends drop their cached decisions.
  const apps = createHttpApps({
    config,
    store,
    sessions,
    audit,
    issuer,
    policy,
    cookies,
    logger,
    sessionCookie: SESSION_COOKIE,
    page: (e) => errorPage({ ...e, demo: options.demo ?? false }),
    context: (req) => requestContext(req, config.server.trust_proxy_hops),
    observe: (name, status, seconds) => metrics.proxyRequest.observe({ kind: 'app', target: name, code: String(status) }, seconds),
    requestSessions: requests.bound,
  });
  const app = createWebApp({
    config,
    demo: options.demo ?? false,
    logger,
    store,
    sessions,
    audit,
    auditLog: audit,
    keys,
    issuer,
    connectors,
    cookies,
    policy,
    oauth,
    metrics,
    lifecycle,
    sshCa,
    sshRevocations,
    recordings: createRecordingStore(config.recordings.dir),
    kubeProxy: kubeProxyRef,
    appHosts: apps.registry.publicHosts,
    requests: accessRequests,
  });
  // Data paths answer before Express: its router and middleware cost ~4x on small requests.
  const tokenReview = createTokenReviewHandler({
    issuer,
    audit,
    audiences: clusterAudiences,
    bearerToken: config.tokenreview?.bearer_token,
    usernamePrefix: KUBE_USERNAME_PREFIX,
    context: (req) => requestContext(req, config.server.trust_proxy_hops),
  });
  const dataPaths = [tokenReview];
  const server = createHttpServer(
    (req, res) => {
      if (apps.handle(req, res)) return;
      const route = dataPaths.find((p) => p.matches(req));
      if (!route) return app(req, res);
      route.handle(req, res).catch((err) => {
        logger.error({ err }, 'data path failed');
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: 'internal_error', message: 'Internal server error.' }));
      });
    },
    { audit, logger, isConnector: (id) => config.connectors.some((c) => c.id === id) },
  );
  // The web terminal (/terminal/:node/ws): the SSH listener's upstream, recording and audit path.
  const terminal = config.ssh
    ? createWebTerminal({
        ssh: config.ssh,
        publicUrl,
        policy,
        sessions,
        sessionId: (req) => cookies.read(req, SESSION_COOKIE),
        ca: sshCa,
        audit,
        recorder: () => recorder,
        context: (req) => requestContext(req, config.server.trust_proxy_hops),
        logger,
        requestSessions: requests.bound,
      })
    : undefined;
  server.on('upgrade', (req, socket, head) => apps.upgrade(req, socket, head) || terminal?.upgrade(req, socket, head) || socket.destroy());
  // Large uploads to apps must not be cut at the 30 s whole-request limit; headersTimeout still
  // bounds slow headers and each app's idle timeout bounds a stalled body.
  if (apps.registry.apps.length) server.requestTimeout = 0;
  const recorder = createRecorder({
    dir: config.recordings.dir,
    maxBytesPerSession: config.recordings.max_bytes_per_session,
    recordInput: config.recordings.record_input,
    onQuota: (meta) =>
      void bestEffort(
        audit,
        logger,
      )({
        type: 'recording.quota',
        outcome: 'failure',
        user: meta.user,
        session_id: meta.id,
        reason: 'recording_quota',
        details: { node: meta.node, login: meta.login, max_bytes: config.recordings.max_bytes_per_session },
      }),
  });
  const kubeProxy = config.kube_proxy
    ? await createKubeProxy({ config, issuer, audit, logger, usernamePrefix: KUBE_USERNAME_PREFIX, recorder: execRecorder(recorder), store })
    : undefined;
  const ssh = config.ssh
    ? createSshProxy({
        config: config.ssh,
        hostPrincipals: sshHostPrincipals(config),
        ca: sshCa,
        revocations: sshRevocations,
        policy,
        audit,
        recorder,
        logger,
        requestSessions: requests.bound,
        authLimit: { store },
      })
    : undefined;

  // Database access (src/proxy/db): one TLS listener; certificates from the database CA in the store.
  const db = config.db
    ? createDbProxy({
        db: config.db,
        databases: () => config.databases,
        roles: () => config.roles,
        policy,
        ca: createDbCa({ store, dataDir: config.state.data_dir, logger }),
        revocations: sshRevocations,
        store,
        audit,
        recorder,
        logger,
        hosts: dbListenerHosts(config.db, publicUrl),
      })
    : undefined;

  const [host, port] = splitHostPort(config.server.listen);
  return {
    config,
    metrics,
    server,
    issuer,
    store,
    audit,
    connectors,
    kubeProxy,
    reloadPolicy(next: Config) {
      Object.assign(policy, policyFromConfig(next));
      config.clusters.splice(0, config.clusters.length, ...next.clusters);
      config.roles = next.roles;
      config.mappings = next.mappings;
      config.tests = next.tests;
      logger.info({ roles: next.roles.length, mappings: next.mappings.length, clusters: next.clusters.length }, 'policy reloaded');
    },
    ssh,
    db,
    url() {
      const address = server.address();
      if (!address || typeof address === 'string') throw new Error('not listening');
      const h = address.family === 'IPv6' ? `[${address.address}]` : address.address;
      return `http://${h}:${address.port}`;
    },
    async start() {
      requests.start();
      await listen(server, port, host);
      await kubeProxy?.start();
      await ssh?.listen();
      await db?.listen();
      // The demo's SSH listener on port 0 (`--listen` given): clients are told the port it got.
      if (demoNode && ssh && config.ssh && splitHostPort(config.ssh.listen)[1] === 0)
        config.ssh.public_addr = `${new URL(config.server.public_url).hostname}:${ssh.address().port}`;
      // Warm the keys so the first login does not pay for key generation; failures surface on /readyz.
      keys.active().catch((err) => logger.warn({ err: err.message }, 'signing keys not available yet'));
    },
    async stop() {
      // Readiness turns false first, so load balancers stop sending before the listener closes.
      lifecycle.draining = true;
      if (config.server.drain_delay > 0) await new Promise((r) => setTimeout(r, config.server.drain_delay));
      await ssh?.close();
      await db?.close();
      terminal?.close();
      apps.endUpgrades();
      await demoNode?.close();
      await closeGracefully(server, 10_000);
      await apps.close();
      await demoApp?.close();
      await kubeProxy?.stop();
      await connectors.close();
      await requests.close();
      notifier.close();
      await notifier.idle();
      await audit.close();
      await store.close();
    },
  };
}
