/**
 * The node:cluster primary of `gatehouse serve` with `server.workers` > 1. It serves nothing
 * itself: it owns the listening sockets (cluster hands each new connection to the next worker),
 * and it
 * - starts worker 0 first and the others once it is up, so what a gateway creates on disk at
 *   first start (the Kubernetes proxy's serving certificate, SAML SP keys) is created once;
 * - fails the start (exit 1) when a worker dies before every worker is up: a config or port
 *   problem would only repeat;
 * - restarts a worker that exits later, with backoff per slot (0.25 s doubling to 30 s; back to
 *   the start once it stayed up a minute), logged;
 * - on SIGTERM/SIGINT stops every worker gracefully (each drains as one process does) and exits
 *   0 when all exited cleanly, killing the ones still running after `stopTimeoutMs`;
 * - on SIGHUP re-reads the config file and sends it to every worker (a broken file changes nothing);
 * - answers the workers' /metrics with the sum over all of them (injected, src/metrics/cluster.ts).
 */
import cluster, { type Worker } from 'node:cluster';
import type { Config } from '../config/schema.js';
import type { Logger } from '../core/logger.js';
import { isWorkerMessage, MESSAGES, WORKER_ENV, workerConfig } from './workers.js';

const FIRST_BACKOFF_MS = 250;
const MAX_BACKOFF_MS = 30_000;
/** A worker up this long counts as healthy: its next crash restarts at the first backoff again. */
const STABLE_MS = 60_000;

/** The metrics aggregation's hooks (structural: the CLI does not import metrics). */
interface MetricsHooks {
  onMessage(worker: Worker, message: unknown): void;
  onExit(worker: Worker): void;
}

export interface PrimaryOptions {
  config: Config;
  count: number;
  logger: Logger;
  /** Re-reads and validates the config file (SIGHUP); throws on a broken one. */
  reload(): Config;
  metrics(ready: () => Worker[]): MetricsHooks;
  /** How long workers get to stop before they are killed. */
  stopTimeoutMs: number;
}

interface Slot {
  index: number;
  worker?: Worker;
  ready: boolean;
  readyAt?: number;
  failures: number;
  restartTimer?: NodeJS.Timeout;
  exited?: Promise<boolean>;
}

/** Runs the workers until SIGTERM/SIGINT, then exits the process. Resolves once every worker is up. */
export async function runPrimary(options: PrimaryOptions): Promise<{ pids: number[] }> {
  const { logger, config } = options;
  // The config goes to workers as a structured clone, not JSON.
  cluster.setupPrimary({ serialization: 'advanced' });
  const slots: Slot[] = Array.from({ length: options.count }, (_, index) => ({ index, ready: false, failures: 0 }));
  const metrics = options.metrics(() => slots.flatMap((s) => (s.ready && s.worker ? [s.worker] : [])));
  let phase: 'starting' | 'running' | 'stopping' = 'starting';
  const stopping = () => phase === 'stopping';
  // The latest SIGHUP reload, also sent to workers started after it.
  let reloaded: Config | undefined;

  const fork = (slot: Slot): Promise<void> =>
    new Promise((resolve, reject) => {
      const worker = cluster.fork({ [WORKER_ENV]: '1' });
      const pid = worker.process.pid;
      Object.assign(slot, { worker, ready: false, readyAt: undefined });
      slot.exited = new Promise((settle) =>
        worker.once('exit', (code, signal) => {
          metrics.onExit(worker);
          slot.ready = false;
          if (slot.worker === worker) slot.worker = undefined;
          settle(code === 0);
          reject(new Error(`worker ${slot.index} (pid ${pid}) exited while starting (${signal ?? `code ${code}`})`));
          restart(slot, { pid, code, signal });
        }),
      );
      worker.on('message', (message: unknown) => {
        metrics.onMessage(worker, message);
        if (!isWorkerMessage(message)) return;
        if (message.type === MESSAGES.hello) worker.send({ type: MESSAGES.start, slot: slot.index, config: workerConfig(config, slot.index) });
        if (message.type === MESSAGES.ready) {
          Object.assign(slot, { ready: true, readyAt: Date.now() });
          if (reloaded) worker.send({ type: MESSAGES.reload, config: workerConfig(reloaded, slot.index) });
          logger.info({ worker: slot.index, pid }, 'worker is up');
          resolve();
        }
      });
    });

  const restart = (slot: Slot, exit: { pid?: number; code: number | null; signal: string | null }) => {
    if (phase !== 'running') return;
    const upFor = slot.readyAt === undefined ? 0 : Date.now() - slot.readyAt;
    slot.failures = upFor >= STABLE_MS ? 1 : slot.failures + 1;
    const delay = Math.min(MAX_BACKOFF_MS, FIRST_BACKOFF_MS * 2 ** (slot.failures - 1));
    logger.error({ worker: slot.index, ...exit, restartInMs: delay }, 'worker exited; restarting it');
    slot.restartTimer = setTimeout(() => {
      slot.restartTimer = undefined;
      // A failed restart is an exit too: it comes back here with a longer backoff.
      fork(slot).catch(() => undefined);
    }, delay);
  };

  /** Exits 0 when every worker stopped cleanly, else (or with `failed`) 1. */
  const stop = async (signal: string, failed = false): Promise<never> => {
    if (phase === 'stopping') return new Promise<never>(() => undefined);
    phase = 'stopping';
    logger.info({ signal }, 'shutting down the workers');
    for (const slot of slots) clearTimeout(slot.restartTimer);
    const live = slots.filter((s) => s.worker);
    for (const slot of live) slot.worker!.process.kill('SIGTERM');
    const killer = setTimeout(() => {
      for (const slot of slots) if (slot.worker) logger.error({ worker: slot.index, pid: slot.worker.process.pid }, 'worker did not stop in time; killing it');
      for (const slot of slots) slot.worker?.process.kill('SIGKILL');
    }, options.stopTimeoutMs);
    const clean = await Promise.all(live.map((s) => s.exited!));
    clearTimeout(killer);
    process.exit(!failed && clean.every(Boolean) ? 0 : 1);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGHUP', () => {
    let next: Config;
    try {
      next = options.reload();
    } catch (err) {
      logger.error({ err: (err as Error).message }, 'config reload failed; keeping the running policy');
      return;
    }
    reloaded = next;
    for (const slot of slots) if (slot.ready) slot.worker?.send({ type: MESSAGES.reload, config: workerConfig(next, slot.index) });
  });
  try {
    await fork(slots[0]);
    await Promise.all(slots.slice(1).map(fork));
  } catch (err) {
    // A stop signal during the start: stop() is already exiting.
    if (stopping()) return new Promise<never>(() => undefined);
    logger.error({ err: (err as Error).message }, 'a worker failed to start; stopping');
    return stop('start-up failure', true);
  }
  phase = 'running';
  return { pids: slots.map((s) => s.worker!.process.pid!) };
}
