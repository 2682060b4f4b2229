// The gateway for bench/kube-proxy: one proxied cluster pointing at the stand-in, its proxy
// listener on a free port, and a cluster token minted for the bench to send.
// Env: BENCH_DATA_DIR, BENCH_UPSTREAM, BENCH_TLS_DIR (the stand-in's CA and Gatehouse's token file).
import { join } from 'node:path';
import { parseConfig } from '../../src/config/load.js';
import { createLogger } from '../../src/core/logger.js';
import { createGateway } from '../../src/main.js';
import { closedPort } from '../../test/helpers/services.js';
import { serveUntilStopped } from './children.js';

const port = await closedPort();
const url = `http://127.0.0.1:${port}`;
const dir = process.env.BENCH_TLS_DIR!;
const config = parseConfig({
  server: { public_url: url, listen: `127.0.0.1:${port}` },
  state: { data_dir: process.env.BENCH_DATA_DIR },
  connectors: [{ type: 'demo' }],
  clusters: [{ name: 'prod', audience: 'gatehouse:prod', mode: 'proxy', api_server: process.env.BENCH_UPSTREAM, ca_file: join(dir, 'ca.crt'), token_file: join(dir, 'sa-token') }],
  kube_proxy: { listen: '127.0.0.1:0' },
});
const gateway = await createGateway(config, { logger: createLogger('error') });
await gateway.start();
const token = await gateway.issuer.mint({
  subject: 'demo:alice',
  audience: 'gatehouse:prod',
  ttlMs: 3_600_000,
  claims: { preferred_username: 'alice', email: 'alice@demo.gatehouse.test', groups: ['platform-admins'], roles: ['admin'], connector: 'demo' },
});
serveUntilStopped({ type: 'ready', url: gateway.kubeProxy!.clusterUrl('prod'), ca: gateway.kubeProxy!.caPem(), token }, () => gateway.stop());
