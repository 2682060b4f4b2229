import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { eventually } from '../../helpers/eventually.js';
import { startChild, startRun } from '../../helpers/processes.js';

// Hostile cases (3): a slow holder (3 s, 15 missed-at-30s-rule beats) with 19 waiters trying
// to take it as stale; a holder killed with SIGKILL while 19 wait (stale takeover race among
// all of them); 20 processes racing from cold on a pre-existing abandoned old-style lock file.

const script = fileURLToPath(new URL('./cli-lock-holder.ts', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'gh-cli-lock-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const HEARTBEAT = '200';

const holder = (lock: string, log: string, holdMs: number) =>
  startRun(process.execPath, ['--import', 'tsx', script, lock, log, String(holdMs), HEARTBEAT], { timeoutMs: 115_000 });

/** Parses the log and asserts strictly alternating start/end of the same pid: never two holders. */
function assertNoOverlap(log: string): string[] {
  const lines = readFileSync(log, 'utf8').trim().split('\n');
  const holders: string[] = [];
  for (let i = 0; i < lines.length; i += 2) {
    const [s, pid] = lines[i].split(' ');
    assert.equal(s, 'start', `line ${i}: ${lines[i]} (overlap: ${lines.join(' | ')})`);
    assert.equal(lines[i + 1], `end ${pid}`, `holder ${pid} was not alone: ${lines.join(' | ')}`);
    holders.push(pid);
  }
  return holders;
}

const waitFor = async (cond: () => boolean) => {
  await eventually(cond, { timeoutMs: 10_000, intervalMs: 25, message: 'condition not reached' });
  assert.ok(cond(), 'condition not reached');
};

test('20 processes and a 3 s holder: one holder at a time, no second tab, all proceed after release', { timeout: 120_000 }, async () => {
  const lock = join(dir, 'slow.lock');
  const log = join(dir, 'slow.log');
  writeFileSync(log, '');
  const first = holder(lock, log, 3000);
  await waitFor(() => readFileSync(log, 'utf8').includes('start'));
  const rest = Array.from({ length: 19 }, () => holder(lock, log, 20));
  const runs = await Promise.all([first.done, ...rest.map((r) => r.done)]);
  for (const r of runs) assert.equal(r.code, 0, r.stderr);
  const holders = assertNoOverlap(log);
  assert.equal(holders.length, 20, 'every process held the lock exactly once');
  assert.equal(new Set(holders).size, 20);
  assert.equal(holders[0], String(first.child.pid), 'the slow holder was never displaced');
  assert.equal(existsSync(lock), false, 'released');
});

test('a holder killed mid-sign-in: exactly one waiter takes over at a time after the heartbeat goes stale', { timeout: 120_000 }, async () => {
  const lock = join(dir, 'crash.lock');
  const log = join(dir, 'crash.log');
  writeFileSync(log, '');
  const crashed = startChild(process.execPath, ['--import', 'tsx', script, lock, log, '100000', HEARTBEAT], { stdio: 'ignore' });
  await waitFor(() => readFileSync(log, 'utf8').includes('start'));
  const rest = Array.from({ length: 19 }, () => holder(lock, log, 20));
  crashed.killGroup();
  await crashed.exited;
  const runs = await Promise.all(rest.map((r) => r.done));
  for (const r of runs) assert.equal(r.code, 0, r.stderr);
  // The crashed holder's "start" has no "end": drop it, then the rest must alternate.
  const lines = readFileSync(log, 'utf8').trim().split('\n');
  assert.equal(lines[0], `start ${crashed.child.pid}`);
  writeFileSync(log, lines.slice(1).join('\n') + '\n');
  assert.equal(assertNoOverlap(log).length, 19);
});

test('20 processes racing on an abandoned old-style lock file: one takeover, no overlap', { timeout: 120_000 }, async () => {
  const lock = join(dir, 'old.lock');
  const log = join(dir, 'old.log');
  writeFileSync(log, '');
  writeFileSync(lock, '12345');
  const past = new Date(Date.now() - 60_000);
  (await import('node:fs')).utimesSync(lock, past, past);
  const runs = await Promise.all(Array.from({ length: 20 }, () => holder(lock, log, 20).done));
  for (const r of runs) assert.equal(r.code, 0, r.stderr);
  assert.equal(assertNoOverlap(log).length, 20);
});
