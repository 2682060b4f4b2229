import type { ChildProcess } from 'node:child_process';
import { tcpReachable } from './services.js';
import { startChild } from './processes.js';

/** A throwaway redis-server (never the shared one on 6379): no persistence, its own port, for outage tests. */
export async function startRedisServer(bin: string, port: number): Promise<ChildProcess> {
  const child = startChild(bin, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' }).child;
  for (let i = 0; i < 200 && !(await tcpReachable('127.0.0.1', port, 200)); i++) await new Promise((r) => setTimeout(r, 50));
  return child;
}

export async function stopRedisServer(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await exited;
}

/** Polls until `check` returns true; the deadline only bounds a broken run (no timing is asserted). */
export async function until(what: string, check: () => Promise<boolean>, deadlineMs = 60_000): Promise<void> {
  const end = Date.now() + deadlineMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`gave up waiting: ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
