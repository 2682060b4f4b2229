/**
 * `server.workers`: how many gateway processes `gatehouse serve` runs, what differs between them,
 * and the messages a worker exchanges with the primary (./cluster-primary.ts).
 *
 * - auto: one per core (the cgroup's CPU quota counts, so a container with `limits.cpu: 2` on a
 *   64-core node gets 2) when state is in Redis and the audit log takes several writers
 *   (PostgreSQL); otherwise 1. The schema refuses an explicit count > 1 without them.
 * - Each worker gets its own audit spool (a spool file has one writer), and only worker 0 runs
 *   the audit retention job (pruning is once per host, not once per worker).
 * - The primary reads the config file, once, and hands it to each worker over IPC, so every
 *   worker (also one restarted later) runs the same config; SIGHUP reloads go the same way.
 */
import cluster from 'node:cluster';
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import type { Config } from '../config/schema.js';

/** Set by the primary on the workers it forks (a process run as someone else's cluster worker, e.g. by pm2, is not ours). */
export const WORKER_ENV = 'GATEHOUSE_CLUSTER_WORKER';

export const MESSAGES = {
  /** worker → primary: listening for messages, send the config. */
  hello: 'gatehouse:worker:hello',
  /** primary → worker: { slot, config }. */
  start: 'gatehouse:worker:start',
  /** worker → primary: every listener is up. */
  ready: 'gatehouse:worker:ready',
  /** primary → worker: { config } re-read after SIGHUP; the worker applies its policy. */
  reload: 'gatehouse:worker:reload',
} as const;

export interface WorkerMessage {
  type?: unknown;
  slot?: number;
  config?: Config;
}

export const isWorkerMessage = (m: unknown): m is WorkerMessage => typeof m === 'object' && m !== null && typeof (m as WorkerMessage).type === 'string';

export const isClusterWorker = (): boolean => cluster.isWorker && process.env[WORKER_ENV] === '1';

/** Cores this process may use: the scheduler's count, capped by a cgroup CPU quota (`cpu.max`: "<quota> <period>" or "max <period>"). */
export function cpuCores(parallelism = availableParallelism(), cpuMax = readCpuMax()): number {
  const quota = /^(\d+) (\d+)/.exec(cpuMax?.trim() ?? '');
  const limit = quota ? Math.ceil(Number(quota[1]) / Number(quota[2])) : Infinity;
  return Math.max(1, Math.min(parallelism, limit));
}

function readCpuMax(): string | undefined {
  try {
    return readFileSync('/sys/fs/cgroup/cpu.max', 'utf8'); // cgroup v2
  } catch {
    try {
      const read = (name: string) => readFileSync(`/sys/fs/cgroup/cpu/${name}`, 'utf8').trim(); // cgroup v1
      return `${read('cpu.cfs_quota_us')} ${read('cpu.cfs_period_us')}`;
    } catch {
      return undefined;
    }
  }
}

/** The number of worker processes `server.workers` asks for on this host. */
export function workerCount(config: Config, cores = cpuCores()): number {
  const workers = config.server.workers;
  if (workers !== 'auto') return workers;
  return config.state.redis_url && config.audit.backend === 'postgres' ? cores : 1;
}

/**
 * Worker `slot`'s config: its own spool under the configured one (slot 0 keeps that directory,
 * so a gateway going from one worker to several finds its spool), retention in slot 0 only.
 */
export function workerConfig(config: Config, slot: number): Config {
  if (slot === 0) return config;
  const spool = config.audit.spool_dir ?? join(config.state.data_dir, 'audit-spool');
  return { ...config, audit: { ...config.audit, spool_dir: join(spool, `worker-${slot}`), retention_ms: undefined } };
}

/** Worker side: asks the primary for its slot and config. */
export function workerStart(): Promise<{ slot: number; config: Config }> {
  return new Promise((resolve) => {
    const onMessage = (message: unknown) => {
      if (!isWorkerMessage(message) || message.type !== MESSAGES.start || message.slot === undefined || !message.config) return;
      process.off('message', onMessage);
      resolve({ slot: message.slot, config: message.config });
    };
    process.on('message', onMessage);
    process.send!({ type: MESSAGES.hello });
  });
}

/** Worker side: tells the primary it is listening, and applies the reloads it sends from then on. */
export function workerReady(reload: (config: Config) => void): void {
  process.on('message', (message: unknown) => {
    if (isWorkerMessage(message) && message.type === MESSAGES.reload && message.config) reload(message.config);
  });
  process.send!({ type: MESSAGES.ready });
}
