import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { backwardLines, forwardLines, type Line } from '../../../src/audit/lines.js';

const collect = async (lines: AsyncIterable<Line>) => {
  const out: Line[] = [];
  for await (const l of lines) out.push(l);
  return out;
};

test('forward and backward readers agree with a plain split, at every chunk size, ignoring a torn tail', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'gh-lines-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const texts = ['', 'a', 'héllo wörld', 'x'.repeat(50), '', '{"k":"v"}', 'ünïcode ✓', 'last'];
  const body = texts.map((l) => `${l}\n`).join('');
  for (const tail of ['', 'torn-partial-line']) {
    const file = join(dir, `f${tail.length}`);
    writeFileSync(file, body + tail);
    const expected: Line[] = [];
    let offset = 0;
    for (const text of texts) {
      expected.push({ text, offset });
      offset += Buffer.byteLength(text) + 1;
    }
    const fh = await open(file, 'r');
    try {
      const size = (await fh.stat()).size;
      for (const chunk of [1, 2, 3, 7, 16, 64, 1024]) {
        assert.deepEqual(await collect(forwardLines(fh, 0, size, chunk)), expected, `forward, chunk ${chunk}`);
        assert.deepEqual(await collect(backwardLines(fh, size, chunk)), [...expected].reverse(), `backward, chunk ${chunk}`);
        // From a line start in the middle: forward from it, backward before it.
        const mid = expected[5].offset;
        assert.deepEqual(await collect(forwardLines(fh, mid, size, chunk)), expected.slice(5), `forward from middle, chunk ${chunk}`);
        assert.deepEqual(await collect(backwardLines(fh, mid, chunk)), expected.slice(0, 5).reverse(), `backward before middle, chunk ${chunk}`);
      }
      assert.deepEqual(await collect(backwardLines(fh, 0)), []);
    } finally {
      await fh.close();
    }
  }
});
