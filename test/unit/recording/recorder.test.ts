import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { appendFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { newSessionId } from '../../../src/recording/ids.js';
import { createRecordingStore, readCast, stripAnsi, transcript } from '../../../src/recording/reader.js';
import { createRecorder, type RecordingMeta } from '../../../src/recording/recorder.js';

const dir = mkdtempSync(join(tmpdir(), 'gatehouse-recorder-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const base = { user: 'alice', login: 'root', node: 'web-1', kind: 'shell' as const, cols: 80, rows: 24, term: 'xterm' };

async function events(path: string) {
  const out: unknown[] = [];
  for await (const e of readCast(path)) out.push(e);
  return out;
}

describe('asciicast v2 recorder', () => {
  test('header, output split mid-UTF-8, resize, no input by default; metadata with hash at close', async () => {
    let clock = 1_700_000_000_000;
    const recorder = createRecorder({ dir, maxBytesPerSession: 1 << 20, recordInput: false, clock: { now: () => clock } });
    const id = newSessionId();
    const rec = recorder.start({ id, ...base, command: 'top' }, { LANG: 'C.UTF-8' });
    const euro = Buffer.from('€', 'utf8');
    rec.output(Buffer.concat([Buffer.from('price: '), euro.subarray(0, 1)]));
    clock += 1500;
    rec.output(Buffer.concat([euro.subarray(1), Buffer.from('\r\n')]));
    rec.input(Buffer.from('secret\r'));
    rec.resize(120, 40);
    const meta = rec.close({ exitCode: 0 });
    const cast = join(dir, `${id}.cast`);
    const [header, ...rest] = await events(cast);
    assert.deepEqual(header, {
      version: 2,
      width: 80,
      height: 24,
      timestamp: 1_700_000_000,
      command: 'top',
      title: 'alice as root@web-1',
      env: { TERM: 'xterm', LANG: 'C.UTF-8' },
    });
    assert.deepEqual(rest, [
      [0, 'o', 'price: '],
      [1.5, 'o', '€\r\n'],
      [1.5, 'r', '120x40'],
    ]);
    assert.equal(meta.sha256, createHash('sha256').update(readFileSync(cast)).digest('hex'));
    const stored = JSON.parse(readFileSync(join(dir, `${id}.json`), 'utf8')) as RecordingMeta;
    assert.equal(stored.complete, true);
    assert.equal(stored.exit_code, 0);
    assert.equal(stored.bytes, 'price: €\r\n'.length + 2);
    assert.equal(await transcript(cast), 'price: €\n');
  });

  test('input is recorded when enabled', async () => {
    const recorder = createRecorder({ dir, maxBytesPerSession: 1 << 20, recordInput: true });
    const id = newSessionId();
    const rec = recorder.start({ id, ...base });
    rec.input(Buffer.from('ls\r'));
    rec.close({ exitCode: 0 });
    const [, event] = await events(join(dir, `${id}.cast`));
    assert.deepEqual((event as unknown[]).slice(1), ['i', 'ls\r']);
  });

  test('the size quota stops recording once, with a callback, and marks the recording truncated', async () => {
    const hits: string[] = [];
    const recorder = createRecorder({ dir, maxBytesPerSession: 400, recordInput: false, onQuota: (m) => hits.push(m.id) });
    const id = newSessionId();
    const rec = recorder.start({ id, ...base });
    for (let i = 0; i < 50; i++) rec.output(Buffer.from(`line ${i}\r\n`));
    const meta = rec.close({ exitCode: 0 });
    assert.deepEqual(hits, [id]);
    assert.equal(meta.truncated, true);
    assert.ok(readFileSync(join(dir, `${id}.cast`)).length <= 400);
    assert.equal(meta.bytes, Array.from({ length: 50 }, (_, i) => `line ${i}\r\n`).join('').length, 'bytes counts everything seen');
    assert.match(await transcript(join(dir, `${id}.cast`)), /line 0\n/);
  });

  test('a line cut short by a crash is ignored by the reader; ids are validated before touching the disk', async () => {
    const recorder = createRecorder({ dir, maxBytesPerSession: 1 << 20, recordInput: false });
    const id = newSessionId();
    const rec = recorder.start({ id, ...base });
    rec.output(Buffer.from('kept\r\n'));
    appendFileSync(join(dir, `${id}.cast`), '[0.5, "o", "cut sh');
    assert.equal(await transcript(join(dir, `${id}.cast`)), 'kept\n');
    assert.throws(() => recorder.start({ id: '../escape', ...base }));
    const store = createRecordingStore(dir);
    assert.equal(store.get('../../etc/passwd'), undefined);
    assert.equal(store.castPath(`${id}/../x`), undefined);
    assert.equal(store.get(id)?.complete, undefined, 'never closed: no end, not complete');
  });

  test('stripAnsi keeps the text a person saw', () => {
    assert.equal(stripAnsi('\x1b[?2004h\x1b[01;32mroot@web\x1b[00m:~# ls\r\n\x1b]0;title\x07a\tb\r\n'), 'root@web:~# ls\na\tb\n');
  });
});
