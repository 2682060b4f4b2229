import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, describe, test } from 'node:test';
import { playbackClock, type PlaybackTiming } from '../../../src/cli/commands/play.js';
import { requireBinary } from '../../helpers/peers/services.js';
import { runChild } from '../../helpers/processes.js';

const REPO = fileURLToPath(new URL('../../..', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'gh-play-unit-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const schedule = (times: number[], timing: PlaybackTiming) => times.map(playbackClock(timing)).map((t) => Math.round(t * 1e9) / 1e9);

describe('playback timing (asciinema play semantics)', () => {
  const recorded = [0.5, 1, 31, 31.2, 331];

  test('no limit, speed 1: recorded times as they are', () => {
    assert.deepEqual(schedule(recorded, { speed: 1 }), recorded);
  });

  test('-i caps every pause, the first one (from 0) included', () => {
    assert.deepEqual(schedule(recorded, { speed: 1, idleTimeLimit: 2 }), [0.5, 1, 3, 3.2, 5.2]);
    assert.deepEqual(schedule(recorded, { speed: 1, idleTimeLimit: 0.1 }), [0.1, 0.2, 0.3, 0.4, 0.5]);
  });

  test('-s divides every delay; combined with -i the cap applies first', () => {
    assert.deepEqual(schedule(recorded, { speed: 2 }), [0.25, 0.5, 15.5, 15.6, 165.5]);
    assert.deepEqual(schedule(recorded, { speed: 0.5, idleTimeLimit: 2 }), [1, 2, 6, 6.4, 10.4]);
    assert.deepEqual(schedule(recorded, { speed: 2, idleTimeLimit: 0.1 }), [0.05, 0.1, 0.15, 0.2, 0.25]);
  });

  test("the header's idle_time_limit applies unless -i is given, which wins either way", () => {
    assert.deepEqual(schedule(recorded, { speed: 1, headerIdleTimeLimit: 2 }), [0.5, 1, 3, 3.2, 5.2]);
    assert.deepEqual(schedule(recorded, { speed: 1, headerIdleTimeLimit: 2, idleTimeLimit: 10 }), [0.5, 1, 11, 11.2, 21.2]);
    assert.deepEqual(schedule(recorded, { speed: 1, headerIdleTimeLimit: 2, idleTimeLimit: 0.1 }), [0.1, 0.2, 0.3, 0.4, 0.5]);
    for (const junk of [0, -1, '2', null]) assert.deepEqual(schedule(recorded, { speed: 1, headerIdleTimeLimit: junk }), recorded, String(junk));
  });

  test('times that go backwards are no pause, never a jump back', () => {
    assert.deepEqual(schedule([5, 3, 6], { speed: 1 }), [5, 5, 6]);
  });
});

describe('gatehouse play -i / -s on a recording with long pauses', () => {
  // An hour of pauses; keystrokes ('i') are not replayed.
  const cast = join(dir, 'pauses.cast');
  const events: [number, string, string][] = [
    [2, 'o', '$ '],
    [600, 'i', 'l'],
    [1200, 'o', 'ls\r\n'],
    [1200.01, 'o', '\u001b[1mbin\u001b[0m  etc  \u00e9t\u00e9\r\n'],
    [3600, 'o', 'exit\r\n'],
  ];
  writeFileSync(cast, [JSON.stringify({ version: 2, width: 80, height: 24, idle_time_limit: 30 }), ...events.map((e) => JSON.stringify(e)), ''].join('\n'));
  const output = events
    .filter((e) => e[1] === 'o')
    .map((e) => e[2])
    .join('');
  const cli = (...args: string[]) => runChild(process.execPath, ['--import', 'tsx', join(REPO, 'src/cli/main.ts'), 'play', ...args], { timeoutMs: 60_000 });

  test('--print-schedule: the times playback uses, capped then divided', async () => {
    const run = await cli('-i', '0.1', '-s', '2', '--print-schedule', cast);
    assert.equal(run.code, 0, run.stderr);
    const lines = run.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as [number, string, string]);
    assert.deepEqual(
      lines.map(([t]) => t),
      [0.05, 0.1, 0.105, 0.155],
    );
    assert.equal(lines.map(([, , d]) => d).join(''), output);
    // Without -i the header's 30 s limit applies.
    const header = await cli('--speed', '3', '--print-schedule', cast);
    assert.deepEqual(
      header.stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l)[0]),
      [0.666667, 10.666667, 10.67, 20.67],
    );
  });

  test('plays the same bytes as asciinema play with the same flags', async (t) => {
    const run = await cli('-i', '0.1', '-s', '2', cast);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stdout, output);
    if (!requireBinary(t, 'asciinema')) return;
    const asciinema = spawnSync('asciinema', ['play', '-i', '0.1', '-s', '2', cast], { encoding: 'utf8', timeout: 30_000, stdio: ['ignore', 'pipe', 'pipe'] });
    assert.equal(asciinema.status, 0, asciinema.stderr);
    assert.equal(run.stdout, asciinema.stdout);
  });

  test('bad values are usage errors', async () => {
    for (const args of [['-i', '0'], ['--speed=-2'], ['--speed', 'fast'], ['--idle-time-limit', 'NaN']]) {
      const run = await cli(...args, cast);
      assert.equal(run.code, 64, `${args.join(' ')}: ${run.stderr}`);
      assert.match(run.stderr, /must be a positive number/);
    }
  });
});
