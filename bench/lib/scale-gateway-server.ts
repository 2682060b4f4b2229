// One replica for bench/scale: shared Redis (prefix), a shared public_url, a cluster with the
// TokenReview webhook, a forward-auth-only app, and a demo IdP user for the logout measurement.
// Env: BENCH_PORT, BENCH_PUBLIC_URL, BENCH_REDIS_URL, BENCH_REDIS_PREFIX, BENCH_DATA_DIR,
// BENCH_REVIEWER_TOKEN, BENCH_PASSWORD; optional BENCH_SSH_PORT, BENCH_SSH_NODE (host:port) and
// BENCH_SSH_HOST_KEY add the SSH listener with one node. /metrics is served with a bearer token
// (written to BENCH_DATA_DIR) that the ready message carries, for bench/soak's RSS readings.
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseConfig } from '../../src/config/load.js';
import { createLogger } from '../../src/core/logger.js';
import { createGateway } from '../../src/main.js';
import { serveUntilStopped } from './children.js';

const env = (name: string): string => {
  const value = process.env[name];
  if (!value) throw new Error(`bench replica: ${name} is not set`);
  return value;
};

const metricsToken = randomBytes(24).toString('base64url');
const metricsTokenFile = join(env('BENCH_DATA_DIR'), 'metrics-token');
mkdirSync(env('BENCH_DATA_DIR'), { recursive: true, mode: 0o700 });
writeFileSync(metricsTokenFile, metricsToken, { mode: 0o600 });
const config = parseConfig({
  server: {
    public_url: env('BENCH_PUBLIC_URL'),
    listen: `127.0.0.1:${env('BENCH_PORT')}`,
    rate_limit: { login_per_minute: 1_000_000 },
    metrics_bearer_token_file: metricsTokenFile,
  },
  state: { redis_url: env('BENCH_REDIS_URL'), redis_prefix: env('BENCH_REDIS_PREFIX'), data_dir: env('BENCH_DATA_DIR') },
  connectors: [{ type: 'demo', users: [{ username: 'alice', password: env('BENCH_PASSWORD'), email: 'alice@example.com', groups: ['admins'] }] }],
  roles: [{ name: 'admin', kubernetes_groups: ['platform-admins'], apps: ['*'], logins: ['root'], node_labels: { env: ['*'] } }],
  mappings: [{ match: { claim: 'groups', value: 'admins' }, roles: ['admin'] }],
  clusters: [{ name: 'prod', audience: 'gatehouse:prod', api_server: 'https://127.0.0.1:6443' }],
  tokenreview: { bearer_token: env('BENCH_REVIEWER_TOKEN') },
  apps: [{ name: 'grafana', roles: ['admin'] }],
  ...(process.env.BENCH_SSH_PORT
    ? {
        ssh: {
          listen: `127.0.0.1:${env('BENCH_SSH_PORT')}`,
          nodes: [{ name: 'node1', addr: env('BENCH_SSH_NODE'), labels: { env: 'demo' }, host_key: env('BENCH_SSH_HOST_KEY') }],
        },
        recordings: { dir: `${env('BENCH_DATA_DIR')}/recordings` },
      }
    : {}),
});
const gateway = await createGateway(config, { logger: createLogger('error') });
await gateway.start();
for (let i = 0; ; i++) {
  const res = await fetch(`http://127.0.0.1:${env('BENCH_PORT')}/readyz`).catch(() => undefined);
  if (res?.ok) break;
  if (i > 150) throw new Error('bench replica: not ready');
  await new Promise((r) => setTimeout(r, 100));
}
const claims = { preferred_username: 'alice', email: 'alice@example.com', roles: ['admin'], connector: 'demo' };
const clusterToken = await gateway.issuer.mint({
  subject: 'demo:alice',
  audience: 'gatehouse:prod',
  ttlMs: 3_600_000,
  claims: { ...claims, groups: ['platform-admins'] },
});
const gatewayToken = await gateway.issuer.mint({ subject: 'demo:alice', audience: 'gatehouse', ttlMs: 3_600_000, claims: { ...claims, groups: ['admins'] } });
serveUntilStopped({ type: 'ready', url: `http://127.0.0.1:${env('BENCH_PORT')}`, clusterToken, gatewayToken, metricsToken }, () => gateway.stop());
