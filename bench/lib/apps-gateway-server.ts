// The gateway for bench/http-proxy, in a process of its own (so its CPU, event loop and GC are its
// own, as in production): `createGateway` with the config the bench passes, plus the bench-only
// loop probe (event-loop delay, GC, CPU profile per load window; bench/lib/loop-probe.ts).
//
// Env: BENCH_GATEWAY_CONFIG (JSON config tree; `server.listen` names the port), BENCH_DATA_DIR,
// LOG_LEVEL (default error).
//
// HOOK (issue 20 item 2, `server.workers`): the bench sets `server.workers` in the config when
// BENCH_WORKERS is set. Once node:cluster workers exist, this entry must start the gateway the
// way `gatehouse serve` does with workers (primary + workers), and install the loop probe in
// every worker; until then BENCH_WORKERS has no effect beyond the config key.
import { parseConfig } from '../../src/config/load.js';
import { createLogger } from '../../src/core/logger.js';
import { createGateway } from '../../src/main.js';
import { serveUntilStopped } from './children.js';
import { installLoopProbe } from './loop-probe.js';

const raw = JSON.parse(process.env.BENCH_GATEWAY_CONFIG ?? '') as { server: { public_url: string } } & Record<string, unknown>;
const config = parseConfig({ ...raw, state: { ...(raw.state as object), data_dir: process.env.BENCH_DATA_DIR } });
const gateway = await createGateway(config, { logger: createLogger(process.env.LOG_LEVEL ?? 'error') });
await gateway.start();

// Ready means the store and the signing keys answer.
const url = raw.server.public_url;
const deadline = Date.now() + 15_000;
for (;;) {
  const res = await fetch(`${url}/readyz`).catch(() => undefined);
  if (res?.ok) break;
  if (Date.now() > deadline) throw new Error(`bench gateway: not ready after 15 s: ${res ? await res.text() : 'no answer'}`);
  await new Promise((resolve) => setTimeout(resolve, 100));
}
installLoopProbe();
serveUntilStopped({ type: 'ready', url }, () => gateway.stop());
