import { readFileSync } from 'node:fs';
import { Agent } from 'node:https';
import type { ClusterConfig } from '../../config/schema.js';

/** How often a cluster's token_file is read again (projected service-account tokens rotate). */
const TOKEN_REREAD_MS = 30_000;

export interface Upstream {
  url: URL;
  agent: Agent;
  /** `Bearer <token>` from token_file, when the cluster authenticates us by token. */
  authorization(): string | undefined;
}

/**
 * One keep-alive HTTPS agent per cluster, verifying the API server with the cluster's
 * ca_file (or the system roots) and presenting Gatehouse's client certificate when one is
 * configured. Rebuilt when a reload changes the cluster's address or files.
 */
export function createUpstreams() {
  const cache = new Map<string, { key: string; upstream: Upstream }>();
  return {
    get(cluster: ClusterConfig): Upstream {
      const key = JSON.stringify([cluster.api_server, cluster.ca_file, cluster.token_file, cluster.client_cert_file, cluster.client_key_file]);
      const hit = cache.get(cluster.name);
      if (hit?.key === key) return hit.upstream;
      hit?.upstream.agent.destroy();
      const agent = new Agent({
        keepAlive: true,
        keepAliveMsecs: 30_000,
        maxSockets: 512,
        maxFreeSockets: 64,
        ca: cluster.ca_file ? readFileSync(cluster.ca_file) : undefined,
        cert: cluster.client_cert_file ? readFileSync(cluster.client_cert_file) : undefined,
        key: cluster.client_key_file ? readFileSync(cluster.client_key_file) : undefined,
      });
      let token: { value?: string; readAt: number } = { readAt: 0 };
      const upstream: Upstream = {
        url: new URL(cluster.api_server),
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
      for (const { upstream } of cache.values()) upstream.agent.destroy();
      cache.clear();
    },
  };
}
