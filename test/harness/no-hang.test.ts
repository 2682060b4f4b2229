// The harness itself: children that misbehave are reaped, and a stuck test fails in bounded time.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { runChild } from '../helpers/processes.js';

/** Running, as opposed to gone or a zombie waiting for whoever adopted it to reap it. */
const running = (pid: number) => {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
};
async function gone(pid: number): Promise<boolean> {
  for (let i = 0; i < 40 && running(pid); i++) await new Promise((r) => setTimeout(r, 50));
  return !running(pid);
}

test('a child that ignores SIGTERM, with a grandchild holding its pipes, is reaped at its timeout', async () => {
  const started = Date.now();
  const run = await runChild('sh', ['-c', 'trap "" TERM; sleep 300 & echo "grandchild $!"; sleep 300'], { timeoutMs: 500 });
  assert.equal(run.timedOut, true);
  assert.equal(run.signal, 'SIGKILL', 'SIGTERM was ignored, so the group got SIGKILL');
  const grandchild = Number(/grandchild (\d+)/.exec(run.stdout)?.[1]);
  assert.ok(grandchild > 0, run.stdout);
  assert.ok(await gone(grandchild), 'the grandchild died with its group');
  assert.ok(Date.now() - started < 10_000, 'bounded: timeout, then one second of grace');
});

test('a run settles when its child exits, even while a grandchild still holds the pipes', async () => {
  const run = await runChild('sh', ['-c', 'sleep 300 & echo "grandchild $!"; exit 3']);
  assert.equal(run.code, 3);
  assert.equal(run.timedOut, false);
  const grandchild = Number(/grandchild (\d+)/.exec(run.stdout)?.[1]);
  assert.ok(await gone(grandchild));
});

/** Runs the test runner on the fixture folder, with the services it would start pointed elsewhere. */
function runRunner(env: Record<string, string>) {
  const started = Date.now();
  const r = spawnSync(process.execPath, ['scripts/run-tests.mjs'], {
    encoding: 'utf8',
    timeout: 60_000,
    env: {
      ...process.env,
      CI: 'true',
      GATEHOUSE_SKIP_BUILD: '1',
      GATEHOUSE_TEST_ROOT: 'test/fixtures/harness',
      GATEHOUSE_TEST_REDIS_URL: 'redis://127.0.0.1:1',
      GATEHOUSE_TEST_PG_URL: 'postgres://postgres@127.0.0.1:1/test',
      GATEHOUSE_TEST_MYSQL_URL: 'mysql://root@127.0.0.1:1/',
      ...env,
    },
  });
  return { ...r, output: `${r.stdout}${r.stderr}`, ms: Date.now() - started };
}

test('a test that never settles fails with its name, and the tests after it still run', () => {
  const r = runRunner({ GATEHOUSE_TEST_TIMEOUT_S: '2' });
  assert.equal(r.status, 1, r.output);
  assert.match(r.output, /✖ a test that never settles[^\n]*\n\s*'test timed out after 2000ms'/);
  assert.match(r.output, /✔ the test after it/);
  assert.match(r.output, /^1 passed, 1 failed, 0 skipped$/m);
  assert.ok(r.ms < 45_000, `took ${r.ms} ms`);
});

test('with no per-test timeout, the run deadline kills the run and fails it', () => {
  const r = runRunner({ GATEHOUSE_TEST_TIMEOUT_S: '0', GATEHOUSE_TEST_DEADLINE_S: '4' });
  assert.notEqual(r.status, 0, r.output);
  assert.match(r.output, /the run passed its deadline of 4 s; killing it/);
  assert.ok(r.ms < 45_000, `took ${r.ms} ms`);
});
