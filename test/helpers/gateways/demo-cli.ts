// `gatehouse serve` in demo mode, run as a user would run it: the real CLI in a child process,
// with no config file and no GATEHOUSE_* settings, ready once it has printed the demo banner.
import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { eventually, giveUp } from '../eventually.js';
import { closedPort } from '../peers/services.js';
import { startChild } from '../processes.js';

export const REPO_ROOT = fileURLToPath(new URL('../../..', import.meta.url));

export interface DemoCli {
  child: ChildProcess;
  url: string;
  port: number;
  alicePassword: string;
  /** Everything the server wrote so far (for failure messages). */
  output(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const BANNER = /GATEHOUSE DEMO MODE[\s\S]*Open (http:\/\/\S+)\/ and sign in with:\n\s+alice\s+password: (\S+)/;

/** Starts the demo in `cwd` (default: the repository) with `args` after `serve --listen`; killed when the test ends. */
export async function startDemoCli(t: TestContext, options: { cwd?: string; args?: string[]; env?: NodeJS.ProcessEnv } = {}): Promise<DemoCli> {
  const port = await closedPort();
  const env: NodeJS.ProcessEnv = { ...process.env, LOG_LEVEL: 'info' };
  for (const name of ['GATEHOUSE_CONFIG', 'GATEHOUSE_LISTEN', 'GATEHOUSE_DATA_DIR']) delete env[name];
  Object.assign(env, options.env);
  const cli = join(REPO_ROOT, 'src/cli/main.ts');
  const argv = ['--import', import.meta.resolve('tsx'), cli, 'serve', '--listen', `127.0.0.1:${port}`, ...(options.args ?? [])];
  const { child } = startChild(process.execPath, argv, { cwd: options.cwd ?? REPO_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  const output = () => `--- stdout ---\n${stdout}\n--- stderr ---\n${stderr}`;
  t.after(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await exited;
    }
  });
  const match = await eventually(
    () => {
      if (child.exitCode !== null || child.signalCode !== null) giveUp(`gatehouse serve exited before printing the demo banner\n${output()}`);
      return BANNER.exec(stdout);
    },
    { timeoutMs: 45_000, message: () => `no demo banner on stdout\n${output()}` },
  );
  return { child, url: match[1], port, alicePassword: match[2], output, exited };
}
