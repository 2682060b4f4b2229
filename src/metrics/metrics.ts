import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { AuditEvent, AuditInput, AuditSink } from '../audit/sink.js';
import type { Store } from '../store/store.js';
import { clusterWorkerRegistry } from './cluster.js';

/**
 * Prometheus metrics. Most are derived from the audit stream (one decorator on the sink), so
 * every capability that audits is counted without knowing about metrics; the store decorator
 * counts store errors; proxies observe their request durations directly.
 */
export interface Metrics {
  readonly registry: Registry;
  /** Wraps an audit sink: counts events by type/outcome, times durable writes. */
  instrumentAudit<T extends AuditSink>(sink: T): T;
  /** Wraps a store: counts failed operations. */
  instrumentStore(store: Store): Store;
  proxyRequest: Histogram<'kind' | 'target' | 'code'>;
  /** Reports a gauge's value at scrape time. */
  gaugeFrom(name: string, help: string, read: () => Promise<number> | number): void;
}

const STORE_METHODS = [
  'get',
  'set',
  'setIfAbsent',
  'take',
  'delete',
  'increment',
  'mapSet',
  'mapGet',
  'mapEntries',
  'mapDelete',
  'publish',
  'subscribe',
  'ping',
] as const;

/**
 * Label values come only from configuration: an id the config does not know (a typed URL, a
 * malformed request) is counted under `unknown`, so requests cannot invent series.
 */
export interface MetricLabels {
  isConnector?(id: string): boolean;
  isCluster?(name: string): boolean;
}

/** `clusterWorker`: this process is one of several workers; /metrics then shows all of them, summed (./cluster.ts). */
export function createMetrics(labels: MetricLabels = {}, options: { clusterWorker?: boolean } = {}): Metrics {
  const connectorLabel = (id: string | undefined) => (id !== undefined && labels.isConnector?.(id) ? id : 'unknown');
  const clusterLabel = (name: string | undefined) => (name !== undefined && (labels.isCluster?.(name) ?? true) ? name : 'unknown');
  const registry = options.clusterWorker ? clusterWorkerRegistry() : new Registry();
  // No prefix: stock Node.js and process dashboards expect the standard process_* and nodejs_* names.
  collectDefaultMetrics({ register: registry });

  const events = new Counter({
    name: 'gatehouse_audit_events_total',
    help: 'Audit events by type and outcome',
    labelNames: ['type', 'outcome'],
    registers: [registry],
  });
  const logins = new Counter({
    name: 'gatehouse_logins_total',
    help: 'Browser logins by connector and outcome',
    labelNames: ['connector', 'outcome'],
    registers: [registry],
  });
  const tokens = new Counter({
    name: 'gatehouse_tokens_total',
    help: 'CLI tokens issued and refreshed, by outcome',
    labelNames: ['kind', 'outcome'],
    registers: [registry],
  });
  const sessions = new Gauge({
    name: 'gatehouse_sessions_active',
    help: 'Recorded sessions (SSH, kube exec) in progress on this replica',
    labelNames: ['kind'],
    registers: [registry],
  });
  const auditWrite = new Histogram({
    name: 'gatehouse_audit_write_duration_seconds',
    help: 'Time until an audit event is durable',
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
    registers: [registry],
  });
  const auditFailures = new Counter({ name: 'gatehouse_audit_write_failures_total', help: 'Audit events that could not be recorded', registers: [registry] });
  const storeErrors = new Counter({
    name: 'gatehouse_store_errors_total',
    help: 'Failed store operations by operation',
    labelNames: ['operation'],
    registers: [registry],
  });
  const proxyRequest = new Histogram({
    name: 'gatehouse_proxy_request_duration_seconds',
    help: 'Proxied request durations by proxy kind, target (app or cluster) and status code',
    labelNames: ['kind', 'target', 'code'],
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10],
    registers: [registry],
  });

  const observe = (input: AuditInput) => {
    events.inc({ type: input.type, outcome: input.outcome });
    if (input.type === 'user.login') logins.inc({ connector: connectorLabel(input.connector), outcome: input.outcome });
    if (input.type === 'token.issued') tokens.inc({ kind: 'issued', outcome: input.outcome });
    if (input.type === 'token.refreshed') tokens.inc({ kind: 'refreshed', outcome: input.outcome });
    const type = input.type as string;
    if (type === 'session.start' && input.outcome === 'success') sessions.inc({ kind: String(input.details?.kind ?? 'ssh') });
    if (type === 'session.end') sessions.dec({ kind: String(input.details?.kind ?? 'ssh') });
    // The Kubernetes proxy audits every request with its duration: the histogram comes from that.
    if (type === 'kube.request' && typeof input.details?.duration_ms === 'number') {
      proxyRequest.observe(
        { kind: 'kube', target: clusterLabel(input.cluster), code: String(input.details.code ?? '').slice(0, 3) },
        input.details.duration_ms / 1000,
      );
    }
  };

  return {
    registry,
    proxyRequest,
    instrumentAudit<T extends AuditSink>(sink: T): T {
      const emit = async (input: AuditInput): Promise<AuditEvent> => {
        const end = auditWrite.startTimer();
        try {
          const event = await sink.emit(input);
          end();
          observe(input);
          return event;
        } catch (err) {
          auditFailures.inc();
          throw err;
        }
      };
      // Keep the backend's other methods (query, verify, status) bound to it.
      return new Proxy(sink, { get: (target, prop, receiver) => (prop === 'emit' ? emit : Reflect.get(target, prop, receiver)) });
    },
    instrumentStore(store: Store): Store {
      const wrapped = { ...store } as Store;
      for (const method of STORE_METHODS) {
        const original = store[method].bind(store) as (...args: unknown[]) => Promise<unknown>;
        (wrapped as unknown as Record<string, unknown>)[method] = async (...args: unknown[]) => {
          try {
            return await original(...args);
          } catch (err) {
            storeErrors.inc({ operation: method });
            throw err;
          }
        };
      }
      wrapped.close = () => store.close();
      return wrapped;
    },
    gaugeFrom(name, help, read) {
      new Gauge({
        name,
        help,
        registers: [registry],
        async collect() {
          this.set(await read());
        },
      });
    },
  };
}
