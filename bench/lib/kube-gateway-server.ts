// The gateway for bench/kube: one cluster, the TokenReview webhook, and a cluster token minted
// for the bench to send. Env: BENCH_DATA_DIR, BENCH_REVIEWER_TOKEN.
import { serveUntilStopped } from './children.js';
import { startKubeBenchGateway } from './kube-bench-gateway.js';

const { gateway, url, token } = await startKubeBenchGateway({
  clusters: [{ name: 'prod', audience: 'gatehouse:prod', api_server: 'https://127.0.0.1:6443' }],
  tokenreview: { bearer_token: process.env.BENCH_REVIEWER_TOKEN },
});
serveUntilStopped({ type: 'ready', url, token }, () => gateway.stop());
