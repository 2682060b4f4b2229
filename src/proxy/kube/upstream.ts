import { readFileSync } from 'node:fs';
import { Agent } from 'node:https';
import { Pool } from 'undici';
import type { ClusterConfig } from '../../config/schema.js';

/** How often a cluster's token_file is read again (projected service-account tokens rotate). */
const TOKEN_REREAD_MS = 30_000;

export interface Upstream {
  url: URL;
  /** Requests (src/proxy/relay.ts). */
  pool: Pool;
  /** Upgrades (exec, attach, port-forward): node:https takes the connection over for good. */
  agent: Agent;
  /** `Bearer <token>` from token_file, when the cluster authenticates us by token. */
  authorization(): string | undefined;
}

/**
 * One keep-alive HTTPS pool per cluster, and an agent for upgrades, both verifying the API server
 * with the cluster's ca_file (or the system roots) and presenting Gatehouse's client certificate
 * when one is configured. Rebuilt when a reload changes the cluster's address or files.
 */
export function createUpstreams() {
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
          if (Date.now() - token.readAt > TOKEN_REREAD_MS) {
            try {
              token = { value: readFileSync(cluster.token_file, 'utf8').trim(), readAt: Date.now() };
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
