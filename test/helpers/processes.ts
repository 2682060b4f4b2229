// Child processes for tests, which can never hang a run:
// - every child starts in its own process group (detached) and is killed as a group, so helpers it
//   started (ssh's ProxyJump `ssh -W`, a shell's background jobs) die with it;
// - a run settles on `exit`, never on `close` alone: a grandchild holding the pipes cannot keep it
//   open; after exit the group is killed and the output read so far is returned;
// - every child still running when the test file ends (normally, on SIGTERM or SIGINT) is killed.
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';

const live = new Set<ChildProcess>();

function signalGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (!child.pid) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // the group is gone
  }
}

function killAll(): void {
  for (const child of live) signalGroup(child, 'SIGKILL');
  live.clear();
}
process.once('exit', killAll);
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => {
    killAll();
    process.exit(signal === 'SIGTERM' ? 143 : 130);
  });
}

export interface Child {
  child: ChildProcess;
  /** Settles when the process exits (or could not start); never waits for its pipes. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** SIGTERM to the group, SIGKILL after graceMs; settles when the leader has exited. */
  stop(graceMs?: number): Promise<void>;
  /** SIGKILL to the whole group, including whatever outlived the leader. */
  killGroup(): void;
}

/** Spawns a child in its own process group, tracked until it exits. */
export function startChild(command: string, args: string[], options: SpawnOptions = {}): Child {
  const child = spawn(command, args, { ...options, detached: true });
  live.add(child);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
    child.once('error', () => resolve({ code: null, signal: null }));
  }).finally(() => live.delete(child));
  return {
    child,
    exited,
    killGroup: () => signalGroup(child, 'SIGKILL'),
    async stop(graceMs = 5000) {
      if (child.exitCode === null && child.signalCode === null) {
        signalGroup(child, 'SIGTERM');
        const timer = setTimeout(() => signalGroup(child, 'SIGKILL'), graceMs);
        await exited;
        clearTimeout(timer);
      }
      signalGroup(child, 'SIGKILL');
    },
  };
}

export interface ChildRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** True when timeoutMs ran out and the group was killed. */
  timedOut: boolean;
}

export interface Run {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Settles when the process has exited and its output is read (or after 200 ms more). */
  done: Promise<ChildRun>;
}

/**
 * Starts a command, feeding `input`, and collects its output. After timeoutMs the group gets
 * SIGTERM, then SIGKILL a second later.
 */
export function startRun(
  command: string,
  args: string[],
  options: { input?: string | Buffer; timeoutMs?: number; env?: NodeJS.ProcessEnv; cwd?: string } = {},
): Run {
  const run = startChild(command, args, { env: options.env ?? process.env, cwd: options.cwd, stdio: ['pipe', 'pipe', 'pipe'] });
  const { child } = run;
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  child.stdin!.on('error', () => {});
  child.stdin!.end(options.input);
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    void run.stop(1000);
  }, options.timeoutMs ?? 60_000);
  const done = (async () => {
    const { code, signal } = await run.exited;
    clearTimeout(timer);
    // Output the leader wrote before exiting may still be in flight; give it a moment, not more.
    const closed = (s: NodeJS.ReadableStream & { readableEnded: boolean; destroyed: boolean }) =>
      new Promise((r) => (s.readableEnded || s.destroyed ? r(null) : s.once('close', r)));
    await Promise.race([Promise.all([closed(child.stdout!), closed(child.stderr!)]), new Promise((r) => setTimeout(r, 200))]);
    run.killGroup();
    child.stdin!.destroy();
    child.stdout!.destroy();
    child.stderr!.destroy();
    return { code, signal, stdout, stderr, timedOut };
  })();
  return { child, stdout: () => stdout, stderr: () => stderr, done };
}

/** Runs a command to completion (see startRun). */
export function runChild(command: string, args: string[], options: Parameters<typeof startRun>[2] = {}): Promise<ChildRun> {
  return startRun(command, args, options).done;
}
