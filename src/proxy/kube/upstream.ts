import { readFileSync } from 'node:fs';
import type { IncomingMessage, OutgoingHttpHeaders } from 'node:http';
import { Agent } from 'node:https';
import { Pool } from 'undici';
import type { ClusterConfig } from '../../config/schema.js';
import type { Clock } from '../../core/clock.js';
import { HOP_BY_HOP } from '../hop-by-hop.js';
import { impersonationHeaders, isImpersonationHeader, type Impersonation } from './impersonation.js';

/** How often a cluster's token_file is read again (projected service-account tokens rotate). */
const TOKEN_REREAD_MS = 30_000;
/**
 * Request headers never forwarded: hop-by-hop, the client's credential, and WebSocket
 * extensions (a compressed stream could not be recorded).
 */
const DROP_REQUEST = new Set([...HOP_BY_HOP, 'host', 'authorization', 'sec-websocket-extensions']);

export interface Upstream {
  url: URL;
  /** Requests (src/proxy/relay.ts). */
  pool: Pool;
  /** Upgrades (exec, attach, port-forward): node:https takes the connection over for good. */
  agent: Agent;
  /** `Bearer <token>` from token_file, when the cluster authenticates us by token. */
  authorization(): string | undefined;
}

export interface Upstreams {
  /** The cluster's upstream, rebuilt when its address or files changed. */
  get(cluster: ClusterConfig): Upstream;
  close(): void;
}

/**
 * One keep-alive HTTPS pool per cluster, and an agent for upgrades, both verifying the API server
 * with the cluster's ca_file (or the system roots) and presenting Gatehouse's client certificate
 * when one is configured. Rebuilt when a reload changes the cluster's address or files.
 */
export function createUpstreams(clock: Clock): Upstreams {
  const cache = new Map<string, { key: string; upstream: Upstream }>();
  return {
    get(cluster: ClusterConfig): Upstream {
      const key = JSON.stringify([cluster.api_server, cluster.ca_file, cluster.token_file, cluster.client_cert_file, cluster.client_key_file]);
      const hit = cache.get(cluster.name);
      if (hit?.key === key) return hit.upstream;
      if (hit) close(hit.upstream);
      const tls = {
        ca: cluster.ca_file ? readFileSync(cluster.ca_file) : undefined,
        cert: cluster.client_cert_file ? readFileSync(cluster.client_cert_file) : undefined,
        key: cluster.client_key_file ? readFileSync(cluster.client_key_file) : undefined,
      };
      const url = new URL(cluster.api_server);
      // No timeouts of our own: the API server bounds its requests (--request-timeout), and
      // watches and `logs -f` legitimately run for hours.
      const pool = new Pool(url.origin, { connections: 512, headersTimeout: 0, bodyTimeout: 0, connect: tls });
      const agent = new Agent({ keepAlive: true, keepAliveMsecs: 30_000, maxSockets: 512, maxFreeSockets: 64, ...tls });
      let token: { value?: string; readAt: number } = { readAt: 0 };
      const upstream: Upstream = {
        url,
        pool,
        agent,
        authorization() {
          if (!cluster.token_file) return undefined;
          if (clock.now() - token.readAt > TOKEN_REREAD_MS) {
            try {
              token = { value: readFileSync(cluster.token_file, 'utf8').trim(), readAt: clock.now() };
            } catch (err) {
              // Keep the last good token; a missing file with none read yet is an error.
              if (!token.value) throw err;
            }
          }
          return `Bearer ${token.value}`;
        },
      };
      cache.set(cluster.name, { key, upstream });
      return upstream;
    },
    close() {
      for (const { upstream } of cache.values()) close(upstream);
      cache.clear();
    },
  };
}

function close(upstream: Upstream): void {
  void upstream.pool.destroy();
  upstream.agent.destroy();
}

/** Where a request for `path` (under the cluster's prefix) goes on the API server. */
export function upstreamTarget(upstream: Upstream, path: string): { hostname: string; port: string | number; path: string } {
  const base = upstream.url.pathname.replace(/\/+$/, '');
  return { hostname: upstream.url.hostname.replace(/^\[|\]$/g, ''), port: upstream.url.port || 443, path: `${base}${path}` };
}

/**
 * The client's headers for the API server: its own Impersonate-* and front-proxy (X-Remote-*)
 * headers replaced by the admitted identity, its credential by Gatehouse's.
 */
export function upstreamHeaders(req: IncomingMessage, upstream: Upstream, imp: Impersonation, upgrade: boolean): OutgoingHttpHeaders {
  const headers: OutgoingHttpHeaders = {};
  const incoming = req.headersDistinct;
  for (const name in incoming) {
    const value = incoming[name];
    if (value === undefined || DROP_REQUEST.has(name) || isImpersonationHeader(name) || name.startsWith('x-remote-')) continue;
    headers[name] = value.length === 1 ? value[0] : value;
  }
  if (upgrade) {
    headers.connection = 'Upgrade';
    headers.upgrade = req.headers.upgrade;
  }
  const authorization = upstream.authorization();
  if (authorization) headers.authorization = authorization;
  // Added last, as before: the Impersonate-* names (capitalised) follow the client's headers.
  return Object.assign(headers, impersonationHeaders(imp));
}

/** The API server's response headers for the client, without hop-by-hop ones (nor content-length when the caller frames the body). */
export function clientHeaders(headers: Record<string, string | string[] | undefined>, reframed = false): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const name in headers) {
    const value = headers[name];
    if (value !== undefined && !HOP_BY_HOP.has(name) && !(reframed && name === 'content-length')) out[name] = value;
  }
  return out;
}
