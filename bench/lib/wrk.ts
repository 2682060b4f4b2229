// wrk as a child process (never blocking the bench's event loop), its results parsed, and the CPU
// it used itself: run under `sh -c '…; times'`, whose second line is the CPU of the shell's
// children (wrk), so the load generator's share of the two cores is known for every row.
import { spawn, spawnSync } from 'node:child_process';

export interface WrkResult {
  requests: number;
  rps: number;
  p50: number;
  p99: number;
  errors: number;
  /** CPU time (user + system, ms) wrk itself used. */
  cpuMs: number;
}

/** wrk's latency values: "812.00us", "1.23ms", "1.01s". */
function ms(value: string): number {
  const m = /^([\d.]+)(us|ms|s|m)$/.exec(value.trim());
  if (!m) throw new Error(`cannot parse latency "${value}"`);
  return Number(m[1]) * { us: 0.001, ms: 1, s: 1000, m: 60_000 }[m[2] as 'us' | 'ms' | 's' | 'm'];
}

/** `0m1.234000s` (the shell's `times`) in ms. */
function shellTime(value: string): number {
  const m = /^(\d+)m([\d.]+)s$/.exec(value);
  return m ? (Number(m[1]) * 60 + Number(m[2])) * 1000 : NaN;
}

export function requireWrk(): void {
  if (spawnSync('wrk', ['--version']).error) throw new Error('wrk is not installed (apt-get install wrk)');
}

export async function wrk(url: string, o: { seconds: number; connections: number; headers?: Record<string, string> }): Promise<WrkResult> {
  const args = ['-t1', `-c${o.connections}`, `-d${o.seconds}s`, '--latency', ...Object.entries(o.headers ?? {}).flatMap(([k, v]) => ['-H', `${k}: ${v}`]), url];
  const child = spawn('sh', ['-c', 'wrk "$@"; s=$?; times; exit $s', 'sh', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let text = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => (text += c));
  child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  if (code !== 0) throw new Error(`wrk failed: ${stderr || text}`);
  const requests = Number(/(\d+) requests in/.exec(text)?.[1]);
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(text)?.[1]);
  const p50 = ms(/\s50%\s+(\S+)/.exec(text)![1]);
  const p99 = ms(/\s99%\s+(\S+)/.exec(text)![1]);
  const non2xx = Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(text)?.[1] ?? 0);
  const socketErrors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(text);
  const errors = non2xx + (socketErrors ? socketErrors.slice(1).reduce((a, b) => a + Number(b), 0) : 0);
  const children = text.trim().split('\n').at(-1)!.trim().split(/\s+/);
  const cpuMs = shellTime(children[0]) + shellTime(children[1]);
  return { requests, rps, p50, p99, errors, cpuMs };
}
