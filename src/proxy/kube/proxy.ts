import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { fromClaims, parseBearer } from '../../tokens/gateway-token.js';
import { TokenRejectedError } from '../../tokens/issuer.js';
import { createServer, request as httpsRequest, type Server } from 'node:https';
import type { Socket } from 'node:net';
import { join } from 'node:path';
import { type AuditSink, bestEffort } from '../../audit/sink.js';
import type { ClusterConfig, Config } from '../../config/schema.js';
import { splitHostPort } from '../../core/hosts.js';
import type { Logger } from '../../core/logger.js';
import type { RequestContext } from '../../core/types.js';
import type { TokenIssuer } from '../../tokens/issuer.js';
import { requestContext } from '../../core/request-context.js';
import { relay } from '../relay.js';
import { startExecSession, type ExecSession } from './exec-session.js';
import { impersonate, impersonationHeaders, isImpersonationHeader, type Impersonation, type KubeIdentity } from './impersonation.js';
import type { ExecRecorder } from './recording.js';
import { parseRequestInfo, type RequestInfo } from './request-info.js';
import { loadProxyTls, type ProxyTls } from './tls.js';
import { createUpstreams, type Upstream } from './upstream.js';

/** Clusters are served under this prefix: https://<proxy>/k8s/<cluster>/api/v1/... */
export const CLUSTER_PREFIX = '/k8s/';
const ROUTE = /^\/k8s\/([a-z0-9][a-z0-9-]*)(\/[^?]*)?(\?.*)?$/;
/** Verified tokens kept (by token and cluster) until they expire, so a burst of requests verifies once. */
const TOKEN_CACHE_MAX = 10_000;
const MAX_ERROR_BODY = 1 << 20;
/** Request headers never forwarded: hop-by-hop, the client's credential, front-proxy identity headers. */
const DROP_REQUEST = new Set(['host', 'connection', 'keep-alive', 'proxy-connection', 'proxy-authorization', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'authorization', 'sec-websocket-extensions']);
const DROP_RESPONSE = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'trailer', 'upgrade']);

export interface KubeProxyOptions {
  config: Config;
  issuer: TokenIssuer;
  audit: AuditSink;
  logger: Logger;
  usernamePrefix: string;
  recorder?: ExecRecorder;
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

interface Authenticated {
  identity: KubeIdentity;
  exp: number;
}

type Denial = { status: number; reason: string; message: string };

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
  const { audit, logger } = options;
  const emit = bestEffort(audit, logger);
  const [host, port] = splitHostPort(settings.listen);
  const advertisedHost = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host;
  const hosts = [advertisedHost, '127.0.0.1', 'localhost', new URL(options.config.server.public_url).hostname, ...settings.hosts];
  if (settings.public_url) hosts.push(new URL(settings.public_url).hostname);
  const tls: ProxyTls = await loadProxyTls({
    certFile: settings.tls_cert_file,
    keyFile: settings.tls_key_file,
    dir: join(options.config.state.data_dir, 'kube-proxy'),
    hosts: hosts.map((h) => h.replace(/^\[|\]$/g, '')),
  });
  const upstreams = createUpstreams();
  const tokens = new Map<string, Authenticated>();

  const server = createServer({ cert: tls.cert, key: tls.key, requestTimeout: 60_000, headersTimeout: 15_000 });
  server.keepAliveTimeout = 65_000;

  const findCluster = (name: string): ClusterConfig | undefined => options.config.clusters.find((c) => c.name === name && c.mode === 'proxy');

  async function authenticate(req: IncomingMessage, cluster: ClusterConfig): Promise<Authenticated | Denial> {
    const token = parseBearer(req.headers.authorization);
    if (!token) return { status: 401, reason: 'token_missing', message: 'No bearer token: use the kubeconfig from `gatehouse kube login`.' };
    const key = `${cluster.audience}\n${token}`;
    const cached = tokens.get(key);
    if (cached && cached.exp > Date.now()) return cached;
    if (cached) tokens.delete(key);
    try {
      const claims = await options.issuer.verify(token, { audience: cluster.audience });
      const person = fromClaims(claims);
      const auth: Authenticated = {
        identity: {
          username: person.identity.username,
          groups: person.identity.groups,
          users: person.kubernetesUsers,
          roles: person.roles,
          connector: person.identity.connector || undefined,
        },
        // Cached at most 10 s, so a revoked CLI login's tokens are refused soon (tokens.revocations).
        exp: Math.min((claims.exp ?? 0) * 1000, Date.now() + 10_000),
      };
      if (tokens.size >= TOKEN_CACHE_MAX) tokens.delete(tokens.keys().next().value!);
      tokens.set(key, auth);
      return auth;
    } catch (err) {
      const rejection = err instanceof TokenRejectedError ? err.reason : undefined;
      if (rejection === 'revoked') return { status: 401, reason: 'token_revoked', message: 'The Gatehouse token was revoked: sign in again.' };
      if (rejection === 'expired') return { status: 401, reason: 'token_expired', message: 'The Gatehouse token has expired.' };
      if (rejection === 'audience') {
        return { status: 401, reason: 'token_wrong_cluster', message: `The token is not for cluster "${cluster.name}" (audience ${cluster.audience}).` };
      }
      return { status: 401, reason: 'token_invalid', message: `The token is not a valid Gatehouse token: ${(err as Error).message}.` };
    }
  }

  const describe = (info: RequestInfo, method: string) => ({
    method,
    path: info.path,
    verb: info.verb,
    api_group: info.apiGroup,
    api_version: info.apiVersion,
    resource: info.resource,
    subresource: info.subresource,
    namespace: info.namespace,
    name: info.name,
  });

  /** Admission: cluster, token, impersonation. Denials are audited here. */
  async function admit(req: IncomingMessage, context: RequestContext) {
    const m = ROUTE.exec(req.url ?? '');
    const cluster = m ? findCluster(m[1]) : undefined;
    const path = `${m?.[2] ?? '/'}${m?.[3] ?? ''}`;
    const info = parseRequestInfo(req.method ?? 'GET', path);
    const deny = async (denial: Denial, who: { user?: string; connector?: string; roles?: string[] } = {}, extra: Record<string, unknown> = {}) => {
      await audit.emit({ type: 'access.denied', outcome: 'failure', ...who, cluster: cluster?.name ?? m?.[1], reason: denial.reason, details: { ...describe(info, req.method ?? ''), code: denial.status, ...extra }, context });
      return { denial } as const;
    };
    if (!m || !cluster) {
      return deny({ status: 404, reason: 'unknown_cluster', message: m ? `No proxied cluster "${m[1]}".` : `Clusters are served at ${CLUSTER_PREFIX}<cluster>/.` });
    }
    const auth = await authenticate(req, cluster);
    if ('reason' in auth) return deny(auth);
    const result = impersonate(auth.identity, req.headersDistinct, { usernamePrefix: options.usernamePrefix, remoteAddr: context.remoteAddr });
    const who = { user: auth.identity.username, connector: auth.identity.connector, roles: auth.identity.roles };
    if (!result.ok) {
      return deny(
        { status: 403, reason: result.reason, message: result.message },
        who,
        { requested_user: req.headersDistinct['impersonate-user']?.[0], requested_groups: req.headersDistinct['impersonate-group'] },
      );
    }
    return { cluster, path, info, who, identity: auth.identity, impersonation: result.impersonation, upstream: upstreams.get(cluster) } as const;
  }

  function upstreamHeaders(req: IncomingMessage, upstream: Upstream, imp: Impersonation, upgrade: boolean): OutgoingHttpHeaders {
    const headers: OutgoingHttpHeaders = {};
    for (const [name, value] of Object.entries(req.headersDistinct)) {
      if (DROP_REQUEST.has(name) || isImpersonationHeader(name) || name.startsWith('x-remote-') || value === undefined) continue;
      headers[name] = value.length === 1 ? value[0] : value;
    }
    if (upgrade) {
      headers.connection = 'Upgrade';
      headers.upgrade = req.headers.upgrade;
    }
    const authorization = upstream.authorization();
    if (authorization) headers.authorization = authorization;
    return { ...headers, ...impersonationHeaders(imp) };
  }

  const target = (upstream: Upstream, path: string) => {
    const base = upstream.url.pathname.replace(/\/+$/, '');
    return { hostname: upstream.url.hostname.replace(/^\[|\]$/g, ''), port: upstream.url.port || 443, path: `${base}${path}` };
  };

  function auditRequest(admitted: Exclude<Awaited<ReturnType<typeof admit>>, { denial: Denial }>, req: IncomingMessage, context: RequestContext, code: number, started: number, extra: Record<string, unknown> = {}) {
    if (!settings!.audit_discovery && admitted.info.discovery && code < 400) return;
    void emit({
        type: 'kube.request',
        outcome: code < 400 ? 'success' : 'failure',
        ...admitted.who,
        cluster: admitted.cluster.name,
        reason: code >= 400 ? (extra.reason as string | undefined) ?? `http_${code}` : undefined,
        details: {
          ...describe(admitted.info, req.method ?? ''),
          code,
          duration_ms: Math.round((performance.now() - started) * 10) / 10,
          impersonated_user: admitted.impersonation.user,
          groups: admitted.impersonation.groups,
          requested: admitted.impersonation.requested,
          ...extra,
          reason: undefined,
        },
        context,
      });
  }

  const status = (denial: Denial) => ({
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message: `gatehouse: ${denial.message}`,
    reason: denial.status === 401 ? 'Unauthorized' : denial.status === 403 ? 'Forbidden' : denial.status === 404 ? 'NotFound' : denial.status === 503 ? 'ServiceUnavailable' : 'InternalError',
    details: { causes: [{ reason: denial.reason, message: denial.message }] },
    code: denial.status,
  });

  async function handleRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = performance.now();
    const context = requestContext(req, 0);
    const admitted = await admit(req, context);
    if ('denial' in admitted) {
      req.resume();
      const body = JSON.stringify(status(admitted.denial));
      res.writeHead(admitted.denial.status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store' });
      res.end(body);
      return;
    }
    const { upstream } = admitted;
    let code = 0;
    let reason: string | undefined;
    relay(req, res, {
      dispatcher: upstream.pool,
      path: target(upstream, admitted.path).path,
      headers: upstreamHeaders(req, upstream, admitted.impersonation, false) as Record<string, string | string[]>,
      responseHeaders: (upHeaders) => {
        const headers: OutgoingHttpHeaders = {};
        for (const [name, value] of Object.entries(upHeaders)) if (!DROP_RESPONSE.has(name) && value !== undefined) headers[name] = value;
        return headers;
      },
      // Unbuffered: every chunk (a watch event, a log line) is written on as it arrives, and a
      // stream gets its headers at once, as kube-apiserver sends them for a watch.
      flushStreams: true,
      onResponse: (upstreamStatus) => (code = upstreamStatus),
      onFailure: (err) => {
        code = 502;
        reason = 'upstream_unreachable';
        logger.warn({ err: err.message, cluster: admitted.cluster.name }, 'kube API server unreachable');
        const body = JSON.stringify(status({ status: 502, reason, message: `The API server of cluster "${admitted.cluster.name}" cannot be reached.` }));
        res.writeHead(502, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
        res.end(body);
      },
    });
    res.on('close', () => auditRequest(admitted, req, context, code || 499, started, { reason, completed: res.writableFinished ? undefined : false }));
  }

  async function handleUpgrade(req: IncomingMessage, socket: Socket, head: Buffer): Promise<void> {
    const started = performance.now();
    const context = requestContext(req, 0);
    socket.on('error', () => socket.destroy());
    const admitted = await admit(req, context);
    if ('denial' in admitted) return void writeRaw(socket, admitted.denial.status, { 'content-type': 'application/json' }, Buffer.from(JSON.stringify(status(admitted.denial))));
    const { upstream, info } = admitted;
    const upReq = httpsRequest({ ...target(upstream, admitted.path), method: req.method, headers: upstreamHeaders(req, upstream, admitted.impersonation, true), agent: upstream.agent });
    let code = 0;
    let session: ExecSession | undefined;
    let done = false;
    const finish = (extra: Record<string, unknown> = {}) => {
      if (done) return;
      done = true;
      auditRequest(admitted, req, context, code || 502, started, extra);
      void session?.end();
    };

    // Refused (e.g. 400 for a protocol the API server does not speak, so kubectl falls back to SPDY; 403 from RBAC): relay it.
    upReq.on('response', (upRes) => {
      code = upRes.statusCode ?? 502;
      const chunks: Buffer[] = [];
      let size = 0;
      upRes.on('data', (c: Buffer) => {
        size += c.length;
        if (size <= MAX_ERROR_BODY) chunks.push(c);
      });
      upRes.on('end', () => {
        const headers: Record<string, string | string[]> = {};
        for (const [name, value] of Object.entries(upRes.headers)) if (!DROP_RESPONSE.has(name) && name !== 'content-length' && value !== undefined) headers[name] = value;
        writeRaw(socket, code, headers, Buffer.concat(chunks));
        finish();
      });
    });
    upReq.on('upgrade', async (upRes, upSocket, upHead) => {
      code = upRes.statusCode ?? 101;
      upSocket.on('error', () => socket.destroy());
      const protocol = String(upRes.headers['sec-websocket-protocol'] ?? upRes.headers['x-stream-protocol-version'] ?? upRes.headers.upgrade ?? '');
      const websocket = String(upRes.headers.upgrade ?? '').toLowerCase() === 'websocket';
      if (info.subresource === 'exec' || info.subresource === 'attach') {
        try {
          session = await startExecSession({
            audit,
            logger,
            recorder: settings!.record_exec ? options.recorder : undefined,
            cluster: admitted.cluster.name,
            ...admitted.who,
            info,
            query: new URLSearchParams((req.url ?? '').split('?')[1] ?? ''),
            protocol,
            websocket: websocket && /(^|\.)channel\.k8s\.io$/.test(protocol),
            context,
          });
        } catch (err) {
          // The audit log cannot record the session: refuse it (fail closed).
          logger.error({ err }, 'session.start could not be audited; exec refused');
          upSocket.destroy();
          code = 503;
          writeRaw(socket, 503, { 'content-type': 'application/json' }, Buffer.from(JSON.stringify(status({ status: 503, reason: 'audit_unavailable', message: 'The audit log cannot record this session.' }))));
          return finish({ reason: 'audit_unavailable' });
        }
      }
      let response = `HTTP/1.1 ${code} ${upRes.statusMessage ?? 'Switching Protocols'}\r\n`;
      for (let i = 0; i < upRes.rawHeaders.length; i += 2) response += `${upRes.rawHeaders[i]}: ${upRes.rawHeaders[i + 1]}\r\n`;
      socket.write(`${response}\r\n`);
      if (session) {
        const s = session;
        upSocket.on('data', (chunk: Buffer) => s.server(chunk));
        socket.on('data', (chunk: Buffer) => s.client(chunk));
        if (upHead.length) s.server(upHead);
      }
      if (upHead.length) socket.write(upHead);
      socket.pipe(upSocket);
      upSocket.pipe(socket);
      socket.setNoDelay(true);
      upSocket.setNoDelay(true);
      const close = () => {
        socket.destroy();
        upSocket.destroy();
        finish({ session_id: session?.id });
      };
      socket.on('close', close);
      upSocket.on('close', close);
    });
    upReq.on('error', (err) => {
      logger.warn({ err: err.message, cluster: admitted.cluster.name }, 'kube API server unreachable (upgrade)');
      code = 502;
      writeRaw(socket, 502, { 'content-type': 'application/json' }, Buffer.from(JSON.stringify(status({ status: 502, reason: 'upstream_unreachable', message: `The API server of cluster "${admitted.cluster.name}" cannot be reached.` }))));
      finish({ reason: 'upstream_unreachable' });
    });
    socket.on('close', () => {
      if (!code) {
        upReq.destroy();
        finish({ completed: false });
      }
    });
    if (head.length) upReq.write(head);
    upReq.end();
  }

  server.on('request', (req, res) => {
    handleRequest(req, res).catch((err) => {
      logger.error({ err }, 'kube proxy request failed');
      if (!res.headersSent) {
        const body = JSON.stringify(status({ status: 503, reason: 'audit_unavailable', message: 'The request could not be audited.' }));
        res.writeHead(503, { 'content-type': 'application/json' });
        res.end(body);
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
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => {
          server.off('error', reject);
          boundPort = (server.address() as { port: number }).port;
          resolve();
        });
      });
      logger.info({ url: base(), generatedCertificate: tls.generated }, 'Kubernetes proxy listening');
    },
    async stop() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
        setTimeout(() => server.closeAllConnections(), 10_000).unref();
      });
      upstreams.close();
    },
    clusterUrl: (cluster) => `${base()}${CLUSTER_PREFIX}${cluster}`,
    caPem: () => tls.ca,
  };
}

/** An HTTP response written on a raw socket (an upgrade request that is refused), then closed. */
function writeRaw(socket: Socket, code: number, headers: Record<string, string | string[]>, body: Buffer): void {
  if (!socket.writable) return void socket.destroy();
  let head = `HTTP/1.1 ${code} ${STATUS_TEXT[code] ?? 'Error'}\r\n`;
  for (const [name, value] of Object.entries(headers)) for (const v of ([] as string[]).concat(value)) head += `${name}: ${v}\r\n`;
  head += `content-length: ${body.length}\r\nconnection: close\r\n\r\n`;
  socket.end(Buffer.concat([Buffer.from(head, 'latin1'), body]));
}

const STATUS_TEXT: Record<number, string> = { 400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 500: 'Internal Server Error', 502: 'Bad Gateway', 503: 'Service Unavailable' };
