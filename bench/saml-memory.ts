/**
 * bench/saml-memory: 10,000 ACS validations in one process (our checks, samlify's second
 * opinion, the replay cache; the schema validator is the real xmllint in a child process, whose
 * digest memo answers for the repeated text) must not grow RSS, the heap or external memory.
 * The loop is bench/lib/saml-memory.ts, shared with the short guard in
 * test/integration/saml-memory.test.ts (1,000 validations, run by `npm test`).
 *
 *   npx tsx bench/saml-memory.ts        (npm run bench:saml-memory; about 3 minutes on 2 cores)
 *
 * Knobs (environment): BENCH_SAML_ITERATIONS (10000), BENCH_SAML_WARMUP (500),
 * BENCH_SAML_RSS_BOUND_MIB (40), BENCH_SAML_HEAP_BOUND_MIB (16), BENCH_SAML_EXTERNAL_BOUND_MIB (16).
 *
 * Bounds for 10,000 validations: 40 MiB of RSS is 4.1 KiB per validation (RSS drifts down after
 * the warm-up, so it catches native leaks from about 4–5 KiB per validation up); 16 MiB of heap
 * or external memory (exact after a full GC) is 1.6 KiB per validation. Prints a markdown table
 * with PASS/FAIL per bound, and exits 1 when a bound is exceeded or the run fails.
 */
import { spawnSync } from 'node:child_process';
import { describeRun, measureSamlMemory, MiB, mib } from './lib/saml-memory.js';
import { machineSummary, markdownTable } from './lib/report.js';
import { tryRow } from './lib/rows.js';

const env = (name: string, fallback: number) => {
  const value = Number(process.env[name]);
  return Number.isFinite(value) && value > 0 ? value : fallback;
};
const ITERATIONS = Math.round(env('BENCH_SAML_ITERATIONS', 10_000));
const WARMUP = Math.round(env('BENCH_SAML_WARMUP', 500));
const BOUNDS = {
  rss: env('BENCH_SAML_RSS_BOUND_MIB', 40) * MiB,
  heap: env('BENCH_SAML_HEAP_BOUND_MIB', 16) * MiB,
  external: env('BENCH_SAML_EXTERNAL_BOUND_MIB', 16) * MiB,
};

async function main(): Promise<void> {
  console.log(`bench/saml-memory on ${machineSummary()}`);
  console.log(
    `${ITERATIONS.toLocaleString('en-US')} ACS validations of one signed response after ${WARMUP} warm-up; memory after a full GC before and after\n`,
  );
  const header = ['measure', 'before', 'after', 'growth', 'per validation', 'bound', 'result'];
  const label = `${ITERATIONS.toLocaleString('en-US')} ACS validations`;
  const result = await tryRow(label, async () => {
    if (spawnSync('xmllint', ['--version']).error) throw new Error('xmllint is not installed (apt-get install libxml2-utils)');
    return measureSamlMemory({
      warmup: WARMUP,
      iterations: ITERATIONS,
      progress: (done) => process.stderr.write(`  ${done.toLocaleString('en-US')} / ${ITERATIONS.toLocaleString('en-US')}\n`),
    });
  });
  if (!result.ok) {
    console.log(markdownTable(header, [[label, '', '', '', '', '', result.cell]]));
    process.exitCode = 1;
    return;
  }
  const run = result.value;
  let pass = true;
  const line = (name: string, before: number, after: number, bound: number) => {
    const growth = after - before;
    const ok = growth < bound;
    pass &&= ok;
    return [name, mib(before), mib(after), mib(growth), `${(growth / run.iterations / 1024).toFixed(2)} KiB`, `< ${mib(bound)}`, ok ? 'PASS' : 'FAIL'];
  };
  console.log(
    markdownTable(header, [
      line('RSS', run.before.rss, run.after.rss, BOUNDS.rss),
      line('heap used', run.before.heapUsed, run.after.heapUsed, BOUNDS.heap),
      line('external', run.before.external, run.after.external, BOUNDS.external),
    ]),
  );
  console.log(`\n${describeRun(run)}; ${((run.seconds * 1000) / run.iterations).toFixed(1)} ms per validation`);
  console.log(pass ? 'saml-memory: PASS' : 'saml-memory: FAIL');
  if (!pass) process.exitCode = 1;
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
