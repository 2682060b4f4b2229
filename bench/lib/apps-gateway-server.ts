// The gateway for bench/http-proxy, in a process of its own (so its CPU, event loop and GC are its
// own, as in production): `createGateway` with the config the bench passes, plus the bench-only
// loop probe (event-loop delay, GC, CPU profile per load window; bench/lib/loop-probe.ts).
//
// With `server.workers: N` (> 1) it runs as `gatehouse serve` does: this process is the cluster
// primary (src/cli/cluster-primary.ts) and N workers serve; the probe then runs in every worker,
// and the primary relays the bench's requests to all of them and answers with the worst worker's
// delays (busiest loop, summed GC).
//
// Env: BENCH_GATEWAY_CONFIG (JSON config tree; `server.listen` names the port), BENCH_DATA_DIR,
// LOG_LEVEL (default error).
import cluster from 'node:cluster';
import { runPrimary } from '../../src/cli/cluster-primary.js';
import { isClusterWorker, workerCount, workerReady, workerStart } from '../../src/cli/workers.js';
import { parseConfig } from '../../src/config/load.js';
import { createLogger } from '../../src/core/logger.js';
import { clusterMetricsPrimary, createGateway } from '../../src/main.js';
import { gatewayReady, serveUntilStopped } from './children.js';
import { installLoopProbe, mergeLoopStats, type LoopStats } from './loop-probe.js';

const logger = createLogger(process.env.LOG_LEVEL ?? 'error');

if (isClusterWorker()) {
  const { slot, config } = await workerStart();
  const gateway = await createGateway(config, { logger: logger.child({ worker: slot }), clusterWorker: true });
  await gateway.start();
  installLoopProbe();
  workerReady((next) => gateway.reloadPolicy(next));
  process.on('SIGTERM', () => void gateway.stop().then(() => process.exit(0)));
} else {
  const raw = JSON.parse(process.env.BENCH_GATEWAY_CONFIG ?? '') as { server: { public_url: string } } & Record<string, unknown>;
  const config = parseConfig({ ...raw, state: { ...(raw.state as object), data_dir: process.env.BENCH_DATA_DIR } });
  const workers = workerCount(config);
  const gateway = workers > 1 ? undefined : await createGateway(config, { logger });
  if (gateway) await gateway.start();
  else await runPrimary({ config, count: workers, logger, reload: () => config, metrics: clusterMetricsPrimary, stopTimeoutMs: 15_000 });

  const url = raw.server.public_url;
  await gatewayReady(url);
  if (gateway) installLoopProbe();
  else relayProbeToWorkers();
  // Workers stop with the primary: its SIGTERM handler (runPrimary) stops them, then exits.
  serveUntilStopped({ type: 'ready', url }, gateway ? () => gateway.stop() : () => new Promise(() => process.kill(process.pid, 'SIGTERM')));
}

/** Primary: each probe request goes to every worker; the answer merges theirs. */
function relayProbeToWorkers(): void {
  process.on('message', (message: { type?: string; id?: number; op?: string; profile?: string }) => {
    if (message?.type !== 'probe') return;
    const live = Object.values(cluster.workers ?? {}).filter((w) => w !== undefined);
    const replies = live.map(
      (worker, i) =>
        new Promise<{ stats?: LoopStats; error?: string }>((resolve) => {
          const onMessage = (reply: { type?: string; id?: number; stats?: LoopStats; error?: string }) => {
            if (reply?.type !== 'probe-reply' || reply.id !== message.id) return;
            worker.off('message', onMessage);
            resolve(reply);
          };
          worker.on('message', onMessage);
          // One profile file per worker: the first keeps the name the bench asked for.
          worker.send({ ...message, profile: message.profile && i > 0 ? `${message.profile}.worker-${i}` : message.profile });
        }),
    );
    void Promise.all(replies).then((all) => {
      const error = all.find((r) => r.error)?.error;
      const stats = all.flatMap((r) => (r.stats ? [r.stats] : []));
      process.send?.({ type: 'probe-reply', id: message.id, ...(error ? { error } : stats.length ? { stats: mergeLoopStats(stats) } : {}) });
    });
  });
}
