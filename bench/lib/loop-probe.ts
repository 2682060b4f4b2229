// Bench-only view into a gateway child's event loop: event-loop delay percentiles
// (monitorEventLoopDelay), event-loop utilisation, GC pauses (PerformanceObserver 'gc') and, on
// request, a V8 CPU profile of the load window (the sampler --cpu-prof uses, through the
// inspector, so the profile covers one row and not the start-up). The child installs it; the
// bench asks over the fork IPC channel. Nothing of this is in the product: no endpoint, no code
// under src/.
import type { ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import { constants, monitorEventLoopDelay, performance, PerformanceObserver, type EventLoopUtilization, type PerformanceEntry } from 'node:perf_hooks';

/** What one load window looked like from inside the gateway. */
export interface LoopStats {
  /** Event-loop delay: how late a 1 ms timer fired (the resolution already taken off), ms. */
  delayP50: number;
  delayP99: number;
  delayMax: number;
  /** Share of the window the loop was busy (1 = saturated). */
  utilization: number;
  gc: { count: number; totalMs: number; maxMs: number; majorCount: number; majorMs: number };
}

type ProbeRequest = { type: 'probe'; op: 'start' | 'stop'; id: number; profile?: string };
type ProbeReply = { type: 'probe-reply'; id: number; stats?: LoopStats; error?: string };

const RESOLUTION_MS = 1;

/** In the gateway child: answer the bench's probe requests. */
export function installLoopProbe(): void {
  const histogram = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
  let elu: EventLoopUtilization | undefined;
  let gc = { count: 0, totalMs: 0, maxMs: 0, majorCount: 0, majorMs: 0 };
  const observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      gc.count++;
      gc.totalMs += entry.duration;
      gc.maxMs = Math.max(gc.maxMs, entry.duration);
      if ((entry as PerformanceEntry & { detail?: { kind?: number } }).detail?.kind === constants.NODE_PERFORMANCE_GC_MAJOR) {
        gc.majorCount++;
        gc.majorMs += entry.duration;
      }
    }
  });
  let session: Session | undefined;
  const post = (method: string, params?: object) =>
    new Promise<unknown>((resolve, reject) => session!.post(method, params ?? {}, (err, result) => (err ? reject(err) : resolve(result))));

  process.on('message', (message: ProbeRequest) => {
    if (message?.type !== 'probe') return;
    const reply = (r: Omit<ProbeReply, 'type' | 'id'>) => process.send?.({ type: 'probe-reply', id: message.id, ...r } satisfies ProbeReply);
    void (async () => {
      if (message.op === 'start') {
        histogram.reset();
        histogram.enable();
        gc = { count: 0, totalMs: 0, maxMs: 0, majorCount: 0, majorMs: 0 };
        observer.observe({ entryTypes: ['gc'] });
        elu = performance.eventLoopUtilization();
        if (message.profile) {
          session = new Session();
          session.connect();
          await post('Profiler.enable');
          await post('Profiler.start');
        }
        return reply({});
      }
      histogram.disable();
      observer.disconnect();
      const ms = (ns: number) => Math.max(0, ns / 1e6 - RESOLUTION_MS);
      const stats: LoopStats = {
        delayP50: ms(histogram.percentile(50)),
        delayP99: ms(histogram.percentile(99)),
        delayMax: ms(histogram.max),
        utilization: performance.eventLoopUtilization(elu).utilization,
        gc,
      };
      if (session && message.profile) {
        const { profile } = (await post('Profiler.stop')) as { profile: unknown };
        writeFileSync(message.profile, JSON.stringify(profile));
        session.disconnect();
        session = undefined;
      }
      reply({ stats });
    })().catch((err: unknown) => reply({ error: String(err) }));
  });
}

/** Several workers' windows as one: the worst delays, the mean utilisation, every GC pause. */
export function mergeLoopStats(all: LoopStats[]): LoopStats {
  const max = (pick: (s: LoopStats) => number) => Math.max(...all.map(pick));
  const sum = (pick: (s: LoopStats) => number) => all.reduce((total, s) => total + pick(s), 0);
  return {
    delayP50: max((s) => s.delayP50),
    delayP99: max((s) => s.delayP99),
    delayMax: max((s) => s.delayMax),
    utilization: sum((s) => s.utilization) / all.length,
    gc: {
      count: sum((s) => s.gc.count),
      totalMs: sum((s) => s.gc.totalMs),
      maxMs: max((s) => s.gc.maxMs),
      majorCount: sum((s) => s.gc.majorCount),
      majorMs: sum((s) => s.gc.majorMs),
    },
  };
}

let nextId = 0;

/** In the bench: start or stop a load window in `child`; `stop` resolves with what it saw. */
export function probe(child: ChildProcess, op: 'start' | 'stop', profile?: string): Promise<LoopStats | undefined> {
  const id = ++nextId;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.off('message', onMessage);
      reject(new Error(`loop probe: no answer to ${op} within 30 s`));
    }, 30_000);
    const onMessage = (message: ProbeReply) => {
      if (message?.type !== 'probe-reply' || message.id !== id) return;
      clearTimeout(timer);
      child.off('message', onMessage);
      if (message.error) reject(new Error(`loop probe: ${message.error}`));
      else resolve(message.stats);
    };
    child.on('message', onMessage);
    child.send({ type: 'probe', op, id, profile } satisfies ProbeRequest);
  });
}

/** "p50 / p99 / max" of the loop delay, ms. */
export const formatDelay = (s: LoopStats | undefined): string => (s ? `${s.delayP50.toFixed(2)} / ${s.delayP99.toFixed(2)} / ${s.delayMax.toFixed(1)}` : '–');

/** GC pauses in the window: count, total and longest (ms). */
export const formatGc = (s: LoopStats | undefined): string =>
  s ? `${s.gc.count} (${s.gc.majorCount} major), ${s.gc.totalMs.toFixed(0)} ms, max ${s.gc.maxMs.toFixed(1)}` : '–';
