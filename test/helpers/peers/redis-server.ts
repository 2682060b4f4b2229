import type { ChildProcess } from 'node:child_process';
import { tcpReachable } from './services.js';
import { eventually } from '../eventually.js';
import { startChild } from '../processes.js';

/** A throwaway redis-server (never the shared one on 6379): no persistence, its own port, for outage tests. */
export async function startRedisServer(bin: string, port: number): Promise<ChildProcess> {
  const child = startChild(bin, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' }).child;
  await eventually(() => tcpReachable('127.0.0.1', port, 200), { timeoutMs: 20_000, message: `redis-server did not listen on ${port}` });
  return child;
}

export async function stopRedisServer(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await exited;
}
