// The gateway for bench/kube-proxy: one proxied cluster pointing at the stand-in, its proxy
// listener on a free port, and a cluster token minted for the bench to send.
// Env: BENCH_DATA_DIR, BENCH_UPSTREAM, BENCH_TLS_DIR (the stand-in's CA and Gatehouse's token file).
// With the bench-only loop probe (event-loop delay, GC, CPU profile of a load window).
import { join } from 'node:path';
import { serveUntilStopped } from './children.js';
import { startKubeBenchGateway } from './kube-bench-gateway.js';
import { installLoopProbe } from './loop-probe.js';

const dir = process.env.BENCH_TLS_DIR!;
const { gateway, token } = await startKubeBenchGateway({
  clusters: [
    {
      name: 'prod',
      audience: 'gatehouse:prod',
      mode: 'proxy',
      api_server: process.env.BENCH_UPSTREAM,
      ca_file: join(dir, 'ca.crt'),
      token_file: join(dir, 'sa-token'),
    },
  ],
  kube_proxy: { listen: '127.0.0.1:0' },
});
installLoopProbe();
serveUntilStopped({ type: 'ready', url: gateway.kubeProxy!.clusterUrl('prod'), ca: gateway.kubeProxy!.caPem(), token }, () => gateway.stop());
