import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { Socket } from 'node:net';
import { join } from 'node:path';
import { type AuditSink, bestEffort } from '../../audit/sink.js';
import type { Config } from '../../config/schema.js';
import { type Clock, systemClock } from '../../core/clock.js';
import { splitHostPort } from '../../core/hosts.js';
import { closeGracefully, listen } from '../../core/http-server.js';
import type { Logger } from '../../core/logger.js';
import { requestContext } from '../../core/request-context.js';
import type { TokenIssuer } from '../../tokens/issuer.js';
import { relay } from '../relay.js';
import { CLUSTER_PREFIX, createAdmission, type Admit } from './admit.js';
import { createAuthenticator } from './authenticate.js';
import type { ExecRecorder } from './recording.js';
import { requestAuditor, type AuditRequest } from './request-audit.js';
import { kubeStatus, type Denial } from './status.js';
import type { Store } from '../../store/store.js';
import { loadProxyTls, type ProxyTls } from './tls.js';
import { createUpgradeHandler } from './upgrade.js';
import { clientHeaders, createUpstreams, upstreamHeaders, upstreamTarget } from './upstream.js';

/** Requests in flight at stop get this long before their connections are cut. */
const STOP_GRACE_MS = 10_000;

export interface KubeProxyOptions {
  config: Config;
  issuer: TokenIssuer;
  audit: AuditSink;
  logger: Logger;
  usernamePrefix: string;
  recorder?: ExecRecorder;
  /** For the token cache, token_file re-reads and session durations (default: the system clock). */
  clock?: Clock;
  /** Where the generated CA is shared between replicas (when it is Redis). */
  store?: Store;
}

export interface KubeProxy {
  server: Server;
  start(): Promise<void>;
  stop(): Promise<void>;
  /** The URL kubeconfigs use for a cluster: `<proxy>/k8s/<cluster>`. */
  clusterUrl(cluster: string): string;
  /** PEM of the CA that kubectl must trust for this listener. */
  caPem(): string;
}

/**
 * The Kubernetes API proxy for clusters with `mode: proxy`, on its own HTTPS listener and
 * outside Express. Per request: find the cluster by path prefix, verify the bearer as a
 * Gatehouse token for that cluster's audience, replace every Impersonate-* header with the
 * mapped identity, forward with Gatehouse's own credential over a keep-alive agent, stream the
 * answer back unbuffered, and audit one `kube.request` (or `access.denied`). Protocol upgrades
 * (exec, attach, port-forward; WebSocket and SPDY) are piped as raw sockets.
 */
export async function createKubeProxy(options: KubeProxyOptions): Promise<KubeProxy> {
  const settings = options.config.kube_proxy;
  if (!settings) throw new Error('kube_proxy is not configured');
  const { audit, logger, clock = systemClock } = options;
  const [host, port] = splitHostPort(settings.listen);
  const advertisedHost = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host;
  const hosts = [advertisedHost, '127.0.0.1', 'localhost', new URL(options.config.server.public_url).hostname, ...settings.hosts];
  if (settings.public_url) hosts.push(new URL(settings.public_url).hostname);
  const tls: ProxyTls = await loadProxyTls({
    certFile: settings.tls_cert_file,
    keyFile: settings.tls_key_file,
    dir: join(options.config.state.data_dir, 'kube-proxy'),
    store: options.store,
    hosts: hosts.map((h) => h.replace(/^\[|\]$/g, '')),
  });
  const upstreams = createUpstreams(clock);
  const admit = createAdmission({
    config: options.config,
    audit,
    authenticate: createAuthenticator(options.issuer, clock),
    upstreams,
    usernamePrefix: options.usernamePrefix,
  });
  const auditRequest = requestAuditor(bestEffort(audit, logger), settings.audit_discovery);
  const handleRequest = requestHandler(admit, auditRequest, logger);
  const handleUpgrade = createUpgradeHandler({
    admit,
    auditRequest,
    audit,
    logger,
    recorder: settings.record_exec ? options.recorder : undefined,
    clock,
    isRevoked: (claims) => options.issuer.isRevoked(claims),
  });

  const server = createServer({ cert: tls.cert, key: tls.key, requestTimeout: 60_000, headersTimeout: 15_000 });
  server.keepAliveTimeout = 65_000;
  server.on('request', (req, res) => {
    handleRequest(req, res).catch((err) => {
      logger.error({ err }, 'kube proxy request failed');
      if (!res.headersSent) {
        res.writeHead(503, { 'content-type': 'application/json' });
        res.end(kubeStatus({ status: 503, reason: 'audit_unavailable', message: 'The request could not be audited.' }));
      } else res.destroy();
    });
  });
  server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => {
    handleUpgrade(req, socket, head).catch((err) => {
      logger.error({ err }, 'kube proxy upgrade failed');
      socket.destroy();
    });
  });
  server.on('tlsClientError', () => undefined);

  let boundPort = port;
  const base = () => settings.public_url ?? `https://${advertisedHost.includes(':') ? `[${advertisedHost}]` : advertisedHost}:${boundPort}`;
  return {
    server,
    async start() {
      boundPort = (await listen(server, port, host)).port;
      logger.info({ url: base(), generatedCertificate: tls.generated }, 'Kubernetes proxy listening');
    },
    async stop() {
      await closeGracefully(server, STOP_GRACE_MS);
      upstreams.close();
    },
    clusterUrl: (cluster) => `${base()}${CLUSTER_PREFIX}${cluster}`,
    caPem: () => tls.ca,
  };
}

/** Plain requests: admitted, relayed to the API server unbuffered, audited when the response is over. */
function requestHandler(admit: Admit, auditRequest: AuditRequest, logger: Logger) {
  const answer = (res: ServerResponse, denial: Denial, headers: Record<string, string> = {}) => {
    const body = kubeStatus(denial);
    res.writeHead(denial.status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), ...headers });
    res.end(body);
  };
  return async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const started = performance.now();
    const context = requestContext(req, 0);
    const admitted = await admit(req, context);
    if ('denial' in admitted) {
      req.resume();
      return answer(res, admitted.denial, { 'cache-control': 'no-store' });
    }
    const { upstream } = admitted;
    let code = 0;
    let reason: string | undefined;
    relay(req, res, {
      dispatcher: upstream.pool,
      path: upstreamTarget(upstream, admitted.path).path,
      headers: upstreamHeaders(req, upstream, admitted.impersonation, false) as Record<string, string | string[]>,
      responseHeaders: (headers) => clientHeaders(headers),
      // Unbuffered: every chunk (a watch event, a log line) is written on as it arrives, and a
      // stream gets its headers at once, as kube-apiserver sends them for a watch.
      flushStreams: true,
      onResponse: (upstreamStatus) => (code = upstreamStatus),
      onFailure: (err) => {
        code = 502;
        reason = 'upstream_unreachable';
        logger.warn({ err: err.message, cluster: admitted.cluster.name }, 'kube API server unreachable');
        answer(res, { status: 502, reason, message: `The API server of cluster "${admitted.cluster.name}" cannot be reached.` });
      },
    });
    res.on('close', () =>
      auditRequest(admitted, req.method ?? '', context, { code: code || 499, started, extra: { reason, completed: res.writableFinished ? undefined : false } }),
    );
  };
}
