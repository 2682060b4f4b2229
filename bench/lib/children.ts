import { fork, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';

/** What a bench server sends over IPC once it accepts connections. */
export interface ReadyMessage {
  type: 'ready';
  url: string;
  [key: string]: unknown;
}

export interface BenchServer<T extends ReadyMessage = ReadyMessage> {
  ready: T;
  child: ChildProcess;
  /** SIGTERM, then wait for the exit; SIGKILL after `graceMs`. */
  stop(graceMs?: number): Promise<void>;
}

const running = new Set<ChildProcess>();

/** Kills every bench server still running (for error paths and the watchdog). */
export function killAll(): void {
  for (const child of running) child.kill('SIGKILL');
}

/**
 * Forks a bench server script (a .ts file; the child inherits this process's tsx loader) so it has
 * its own event loop, and waits for its `ready` message.
 */
export function startServer<T extends ReadyMessage>(script: URL, env: Record<string, string> = {}, timeoutMs = 30_000): Promise<BenchServer<T>> {
  const child = fork(script, [], { env: { ...process.env, ...env }, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  running.add(child);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  void exited.then(() => running.delete(child));

  const stop = async (graceMs = 15_000) => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    await exited;
    clearTimeout(timer);
  };

  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${script.pathname} did not report ready within ${timeoutMs} ms`));
    }, timeoutMs);
    child.on('message', (message: T) => {
      if (message?.type !== 'ready') return;
      clearTimeout(timer);
      resolve({ ready: message, child, stop });
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`${script.pathname} exited (${signal ?? code}) before it was ready`));
    });
  });
}

/** For server scripts: report readiness to the parent, and stop cleanly on SIGTERM/SIGINT or when the parent goes away. */
/** Waits (at most 15 s) until a gateway's /readyz answers 200: its store and signing keys are there. */
export async function gatewayReady(url: string): Promise<void> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const res = await fetch(`${url}/readyz`).catch(() => undefined);
    if (res?.ok) return;
    if (Date.now() > deadline) throw new Error(`bench gateway: not ready after 15 s: ${res ? await res.text() : 'no answer'}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

export function serveUntilStopped(ready: ReadyMessage, stop: () => Promise<void>): void {
  let stopping = false;
  const shutdown = () => {
    if (stopping) return;
    stopping = true;
    stop().then(
      () => process.exit(0),
      (err: unknown) => {
        process.stderr.write(`bench server: shutdown failed: ${String(err)}\n`);
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', shutdown);
  process.on('SIGINT', shutdown);
  process.on('disconnect', shutdown);
  process.send?.(ready);
}

/**
 * CPU time (user + system, ms) a process has used so far, from /proc (Linux); undefined elsewhere.
 * Sampled around a load phase, it shows whether the server was saturated or the load generator was.
 */
export function cpuTimeMs(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS_PER_SECOND;
  } catch {
    return undefined;
  }
}

/** CPU time (ms) of a process and its direct children (nginx's master and its workers). */
export function processTreeCpuMs(pid: number): number | undefined {
  let children: number[] = [];
  try {
    children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return undefined;
  }
  let total = 0;
  for (const p of [pid, ...children]) {
    const ms = cpuTimeMs(p);
    if (ms === undefined) return undefined;
    total += ms;
  }
  return total;
}

/** USER_HZ: 100 on every mainstream Linux build. */
const CLOCK_TICKS_PER_SECOND = 100;
