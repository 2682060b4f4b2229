/**
 * One /metrics view for several node:cluster workers (src/cli/workers.ts). A scrape lands on any
 * worker; that worker asks the primary, the primary collects every ready worker's metrics over
 * IPC and sums them with prom-client's aggregator (counters and histograms add up, as if one
 * process had served everything), and the worker answers with the result.
 *
 * - A ready worker that does not answer fails the scrape: a partial sum would look like a counter
 *   reset to Prometheus.
 * - Only workers the primary counts as ready are asked: one still starting has no metrics yet.
 */
import type { Worker } from 'node:cluster';
import { AggregatorRegistry, Registry } from 'prom-client';

/** worker → primary: send me the cluster's view. */
const VIEW_REQUEST = 'gatehouse:metrics:view-request';
/** primary → worker: the aggregated text (or why there is none). */
const VIEW = 'gatehouse:metrics:view';
/** primary → worker: send your own metrics. */
const COLLECT = 'gatehouse:metrics:collect';
/** worker → primary: its metrics as prom-client JSON. */
const LOCAL = 'gatehouse:metrics:local';

const TIMEOUT_MS = 5_000;

interface Message {
  type?: unknown;
  id?: number;
  text?: string;
  error?: string;
  metrics?: object[];
}

const isMessage = (m: unknown): m is Message => typeof m === 'object' && m !== null && typeof (m as Message).type === 'string';

/**
 * A worker's registry: metrics register here as usual, `metrics()` (what /metrics serves) answers
 * the whole cluster's view from the primary, and the primary reads this worker's own values.
 */
export function clusterWorkerRegistry(): Registry {
  const pending = new Map<number, { resolve(text: string): void; reject(err: Error): void; timer: NodeJS.Timeout }>();
  let nextId = 0;
  const registry = new (class extends Registry {
    override metrics(): Promise<string> {
      const id = nextId++;
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          pending.delete(id);
          reject(new Error('the primary did not answer with the cluster metrics'));
        }, TIMEOUT_MS * 2);
        pending.set(id, { resolve, reject, timer });
        process.send!({ type: VIEW_REQUEST, id });
      });
    }
  })();
  process.on('message', (message: unknown) => {
    if (!isMessage(message)) return;
    if (message.type === COLLECT)
      void registry.getMetricsAsJSON().then(
        (metrics) => process.send?.({ type: LOCAL, id: message.id, metrics }),
        (err: Error) => process.send?.({ type: LOCAL, id: message.id, error: err.message }),
      );
    if (message.type === VIEW && message.id !== undefined) {
      const waiting = pending.get(message.id);
      if (!waiting) return;
      pending.delete(message.id);
      clearTimeout(waiting.timer);
      if (message.error !== undefined) waiting.reject(new Error(message.error));
      else waiting.resolve(message.text ?? '');
    }
  });
  return registry;
}

/** The primary's side of the aggregation, fed by cluster's 'message' and 'exit' events. */
export interface ClusterMetricsPrimary {
  onMessage(worker: Worker, message: unknown): void;
  /** A worker that exits is no longer waited for. */
  onExit(worker: Worker): void;
}

/** Answers workers' view requests by collecting from `ready()`, the workers to ask. */
export function clusterMetricsPrimary(ready: () => Worker[]): ClusterMetricsPrimary {
  const collections = new Map<number, { waiting: Set<number>; results: object[][]; settle(err?: Error): void }>();
  let nextId = 0;

  const collect = (): Promise<object[][]> =>
    new Promise((resolve, reject) => {
      const id = nextId++;
      const workers = ready().filter((w) => w.isConnected());
      const entry = {
        waiting: new Set(workers.map((w) => w.id)),
        results: [] as object[][],
        settle(err?: Error) {
          clearTimeout(timer);
          collections.delete(id);
          if (err) reject(err);
          else resolve(entry.results);
        },
      };
      const timer = setTimeout(() => entry.settle(new Error(`${entry.waiting.size} worker(s) did not report their metrics`)), TIMEOUT_MS);
      collections.set(id, entry);
      if (!workers.length) return entry.settle();
      for (const w of workers) w.send({ type: COLLECT, id });
    });

  return {
    onMessage(worker, message) {
      if (!isMessage(message)) return;
      if (message.type === LOCAL && message.id !== undefined) {
        const entry = collections.get(message.id);
        if (!entry || !entry.waiting.delete(worker.id)) return;
        if (message.error !== undefined) return entry.settle(new Error(message.error));
        entry.results.push(message.metrics ?? []);
        if (!entry.waiting.size) entry.settle();
      }
      if (message.type === VIEW_REQUEST) {
        collect()
          .then((all) => AggregatorRegistry.aggregate(all).metrics())
          .then(
            (text) => worker.isConnected() && worker.send({ type: VIEW, id: message.id, text }),
            (err: Error) => worker.isConnected() && worker.send({ type: VIEW, id: message.id, error: err.message }),
          );
      }
    },
    onExit(worker) {
      for (const entry of collections.values()) if (entry.waiting.delete(worker.id) && !entry.waiting.size) entry.settle();
    },
  };
}
