import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { LockCompromisedError, withLock } from '../../../src/cli/lock.js';

const dir = mkdtempSync(join(tmpdir(), 'gh-lock-unit-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('the heartbeat keeps a long-held lock fresh', async () => {
  const lock = join(dir, 'beat.lock');
  await withLock(
    lock,
    async () => {
      await sleep(400);
      assert.ok(Date.now() - statSync(lock).mtimeMs < 200, 'mtime refreshed while held');
    },
    { heartbeatMs: 50 },
  );
});

test('a holder whose lock was taken over aborts and leaves the new holder alone', async () => {
  const lock = join(dir, 'taken.lock');
  let signal: AbortSignal | undefined;
  await assert.rejects(
    withLock(
      lock,
      async (s) => {
        signal = s;
        // Another process takes the lock over (as if our heartbeat had gone stale).
        renameSync(lock, `${lock}.gone`);
        mkdirSync(lock);
        writeFileSync(join(lock, 'owner'), 'someone-else');
        await sleep(1000);
      },
      { heartbeatMs: 50 },
    ),
    (err) => err instanceof LockCompromisedError,
  );
  assert.equal(signal?.aborted, true);
  assert.equal(readFileSync(join(lock, 'owner'), 'utf8'), 'someone-else', "the new holder's lock is not removed");
});

test('a fresh lock is not stale: waiters time out instead of taking it', async () => {
  const lock = join(dir, 'fresh.lock');
  mkdirSync(lock);
  writeFileSync(join(lock, 'owner'), 'live');
  await assert.rejects(
    withLock(lock, async () => 1, { heartbeatMs: 1000, timeoutMs: 300 }),
    /timed out/,
  );
});
