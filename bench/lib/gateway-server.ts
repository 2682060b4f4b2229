// The gateway under test: `createGateway` with the demo's shape (embedded IdP with alice and bob,
// file audit log in a temp dir) but the Redis store, a unique key prefix, and the per-address login
// rate limit lifted (every bench login comes from 127.0.0.1).
//
// Env: BENCH_REDIS_URL, BENCH_REDIS_PREFIX, BENCH_DATA_DIR.
import { parseConfig } from '../../src/config/load.js';
import { createLogger } from '../../src/core/logger.js';
import { createGateway } from '../../src/main.js';
import { closedPort } from '../../test/helpers/peers/services.js';
import { gatewayReady, serveUntilStopped } from './children.js';

export interface GatewayReady {
  type: 'ready';
  url: string;
  users: { username: string; password: string }[];
  [key: string]: unknown;
}

const env = (name: string): string => {
  const value = process.env[name];
  if (!value) throw new Error(`bench gateway: ${name} is not set`);
  return value;
};

const port = await closedPort();
const url = `http://127.0.0.1:${port}`;
const config = parseConfig({
  server: { public_url: url, listen: `127.0.0.1:${port}`, rate_limit: { login_per_minute: 1_000_000 } },
  state: { redis_url: env('BENCH_REDIS_URL'), redis_prefix: env('BENCH_REDIS_PREFIX'), data_dir: env('BENCH_DATA_DIR') },
  connectors: [{ type: 'demo', id: 'demo', name: 'Demo IdP' }],
});
const gateway = await createGateway(config, { logger: createLogger(process.env.LOG_LEVEL ?? 'error'), demo: true });
await gateway.start();

await gatewayReady(url);

const users = (gateway.connectors.demoUsers ?? []).map(({ username, password }) => ({ username, password }));
serveUntilStopped({ type: 'ready', url, users } satisfies GatewayReady, () => gateway.stop());
