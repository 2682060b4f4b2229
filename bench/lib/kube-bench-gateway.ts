// What bench/kube's and bench/kube-proxy's gateways share: a gateway on a free port with the demo
// connector and the given cluster settings, and alice's token for cluster `prod` for the bench to send.
import { parseConfig } from '../../src/config/load.js';
import { createLogger } from '../../src/core/logger.js';
import { createGateway } from '../../src/main.js';
import { closedPort } from '../../test/helpers/peers/services.js';

export async function startKubeBenchGateway(clusterConfig: Record<string, unknown>) {
  const port = await closedPort();
  const url = `http://127.0.0.1:${port}`;
  const config = parseConfig({
    server: { public_url: url, listen: `127.0.0.1:${port}` },
    state: { data_dir: process.env.BENCH_DATA_DIR },
    connectors: [{ type: 'demo' }],
    ...clusterConfig,
  });
  const gateway = await createGateway(config, { logger: createLogger('error') });
  await gateway.start();
  const token = await gateway.issuer.mint({
    subject: 'demo:alice',
    audience: 'gatehouse:prod',
    ttlMs: 3_600_000,
    claims: { preferred_username: 'alice', email: 'alice@demo.gatehouse.test', groups: ['platform-admins'], roles: ['admin'], connector: 'demo' },
  });
  return { gateway, url, token };
}
