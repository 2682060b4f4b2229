// The gateway for bench/kube: one cluster, the TokenReview webhook, and a cluster token minted
// for the bench to send. Env: BENCH_DATA_DIR, BENCH_REVIEWER_TOKEN.
import { parseConfig } from '../../src/config/load.js';
import { createLogger } from '../../src/core/logger.js';
import { createGateway } from '../../src/main.js';
import { closedPort } from '../../test/helpers/services.js';
import { serveUntilStopped } from './children.js';

const port = await closedPort();
const url = `http://127.0.0.1:${port}`;
const config = parseConfig({
  server: { public_url: url, listen: `127.0.0.1:${port}` },
  state: { data_dir: process.env.BENCH_DATA_DIR },
  connectors: [{ type: 'demo' }],
  clusters: [{ name: 'prod', audience: 'gatehouse:prod', api_server: 'https://127.0.0.1:6443' }],
  tokenreview: { bearer_token: process.env.BENCH_REVIEWER_TOKEN },
});
const gateway = await createGateway(config, { logger: createLogger('error') });
await gateway.start();
const token = await gateway.issuer.mint({
  subject: 'demo:alice',
  audience: 'gatehouse:prod',
  ttlMs: 3_600_000,
  claims: { preferred_username: 'alice', email: 'alice@demo.gatehouse.test', groups: ['platform-admins'], roles: ['admin'], connector: 'demo' },
});
serveUntilStopped({ type: 'ready', url, token }, () => gateway.stop());
