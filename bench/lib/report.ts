import { availableParallelism, cpus, totalmem } from 'node:os';

/** The value at percentile `p` (0–100) of unsorted samples, nearest-rank. */
export function percentile(samples: number[], p: number): number {
  if (samples.length === 0) return NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank];
}

const fmt = (n: number, digits = 0) =>
  Number.isFinite(n) ? n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits }) : 'n/a';
export const formatRate = (n: number) => fmt(n, n < 100 ? 1 : 0);
export const formatMs = (n: number) => fmt(n, n < 10 ? 2 : 1);
/** CPU use as a share of one core (a Node server's main thread saturates near 100%). */
export const formatCpu = (cores: number | undefined) => (cores === undefined ? 'n/a' : `${Math.round(cores * 100)}%`);
export const formatRatio = (n: number) => `${fmt(n, n < 0.1 ? 4 : 2)}×`;

/** A GitHub-flavoured markdown table. */
export function markdownTable(header: string[], rows: string[][]): string {
  const line = (cells: string[]) => `| ${cells.join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}

export function machineSummary(): string {
  const cpu = cpus()[0]?.model.trim() ?? 'unknown CPU';
  return `${availableParallelism()} CPUs (${cpu}), ${Math.round(totalmem() / 2 ** 30)} GiB RAM, Node ${process.version}, ${process.platform}/${process.arch}`;
}

/** Share of all CPUs busy over `ms` (from the kernel's per-CPU counters). */
async function cpuBusy(ms: number): Promise<number> {
  const sample = () =>
    cpus().reduce((acc, c) => ({ idle: acc.idle + c.times.idle, total: acc.total + Object.values(c.times).reduce((a, b) => a + b, 0) }), { idle: 0, total: 0 });
  const a = sample();
  await new Promise((resolve) => setTimeout(resolve, ms));
  const b = sample();
  const total = b.total - a.total;
  return total > 0 ? 1 - (b.idle - a.idle) / total : 0;
}

/** A warning when something else keeps the machine busy before the bench starts, since its numbers then say little. */
export async function busyWarning(): Promise<string | undefined> {
  const busy = await cpuBusy(1000);
  if (busy <= 0.15) return undefined;
  return `WARNING: ${Math.round(busy * 100)}% of the CPUs were busy before the bench started: other work is running, so these numbers are unreliable`;
}
