// Summaries of V8 CPU profiles (.cpuprofile, as --cpu-prof or the inspector writes them): the
// functions with the most self time, and self time grouped by where the code lives (Gatehouse's
// src/, undici, Node's internals, GC, idle). `npx tsx bench/lib/cpu-profile.ts FILE [TOP]` prints
// both for a profile taken by hand (node --cpu-prof).
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { markdownTable } from './report.js';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** Where a function lives, coarsely: what a reader needs to tell our code from Node's. */
export function area(url: string, name: string): string {
  if (!url) return name.startsWith('(') ? name : '(native)';
  if (url.includes('/src/')) return `gatehouse ${url.slice(url.indexOf('/src/') + 1).replace(/\.[jt]s$/, '')}`;
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg) return pkg[1];
  if (url.startsWith('node:')) return url.replace(/^node:internal\//, 'node internal/').replace(/\/[^/]+$/, '/*');
  return url.replace(/^.*\//, '');
}

export interface ProfileSummary {
  totalMs: number;
  functions: { name: string; where: string; selfMs: number; share: number }[];
  areas: { area: string; selfMs: number; share: number }[];
}

export function summarizeProfile(profile: CpuProfile, top = 15): ProfileSummary {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  profile.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));
  const totalUs = [...self.values()].reduce((a, b) => a + b, 0);
  const fns = new Map<string, { name: string; where: string; us: number }>();
  const areas = new Map<string, number>();
  for (const [id, us] of self) {
    const { functionName, url, lineNumber } = byId.get(id)!.callFrame;
    const name = functionName || '(anonymous)';
    const where = url ? `${url.replace(/^.*\/(node_modules|src)\//, '$1/').replace(/^file:\/\//, '')}:${lineNumber + 1}` : '';
    const key = `${name}\n${where}`;
    const entry = fns.get(key) ?? { name, where, us: 0 };
    entry.us += us;
    fns.set(key, entry);
    const a = area(url, name);
    areas.set(a, (areas.get(a) ?? 0) + us);
  }
  const share = (us: number) => us / totalUs;
  return {
    totalMs: totalUs / 1000,
    functions: [...fns.values()]
      .sort((a, b) => b.us - a.us)
      .slice(0, top)
      .map((f) => ({ name: f.name, where: f.where, selfMs: f.us / 1000, share: share(f.us) })),
    areas: [...areas.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([a, us]) => ({ area: a, selfMs: us / 1000, share: share(us) })),
  };
}

/** Two markdown tables: top functions by self time, and self time by area. */
export function formatProfile(summary: ProfileSummary): string {
  const pct = (x: number) => `${(x * 100).toFixed(1)}%`;
  return [
    markdownTable(
      ['function', 'where', 'self ms', 'self %'],
      summary.functions.map((f) => [f.name.replace(/\|/g, '\\|'), f.where, f.selfMs.toFixed(0), pct(f.share)]),
    ),
    '',
    markdownTable(
      ['area', 'self ms', 'self %'],
      summary.areas.map((a) => [a.area, a.selfMs.toFixed(0), pct(a.share)]),
    ),
  ].join('\n');
}

export const readProfile = (file: string): CpuProfile => JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [file, top] = process.argv.slice(2);
  if (!file) {
    console.error('usage: npx tsx bench/lib/cpu-profile.ts FILE.cpuprofile [TOP]');
    process.exit(2);
  }
  const summary = summarizeProfile(readProfile(file), Number(top ?? 15));
  console.log(`${summary.totalMs.toFixed(0)} ms sampled\n\n${formatProfile(summary)}`);
}
