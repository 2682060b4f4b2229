// Following the server's answers: OK, ERR and result sets summarised (rows counted, more results
// followed), a prepare's statement id and parameter count learnt and its definitions skipped,
// LOCAL INFILE noticed, and where an injected ERR goes.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createResponseTracker } from '../../../../../src/proxy/db/mysql/responses.js';
import { errPacket, type Packet } from '../../../../../src/proxy/db/mysql/wire.js';

const p = (seq: number, bytes: number[] | Buffer, length?: number): Packet => {
  const head = Buffer.from(bytes);
  return { seq, head, length: length ?? head.length, cut: false };
};
const ok = (seq: number, affected: number, status = 2) => p(seq, [0, affected, 0, status & 0xff, status >> 8, 0, 0]);
const eof = (seq: number, status = 2) => p(seq, [0xfe, 0, 0, status & 0xff, status >> 8]);

function tracker() {
  const out: string[] = [];
  const prepared: (number | undefined)[][] = [];
  let files = 0;
  const t = createResponseTracker({ summary: (s) => out.push(s), prepared: (id, n) => prepared.push([id, n]), localInfile: () => files++ });
  return { t, out, prepared, files: () => files };
}

describe('createResponseTracker', () => {
  test('OK, ERR, a result set and multi-results', () => {
    const { t, out } = tracker();
    t.expect('result');
    assert.equal(t.injectSeq(), 1);
    t.onPacket(ok(1, 3));
    t.expect('result');
    const err = errPacket(1, 1146, '42S02', "Table 'x' doesn't exist");
    t.onPacket(p(1, err.subarray(4)));
    t.expect('result');
    // Two columns, two rows, then (MORE_RESULTS) an OK.
    for (const [i, packet] of [
      p(1, [2]),
      p(2, [3, 0x64, 0x65, 0x66]),
      p(3, [3]),
      eof(4),
      p(5, [1, 0x61]),
      p(6, [0xfe, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
      eof(7, 0x0a),
    ].entries()) {
      t.onPacket(packet);
      assert.equal(t.injectSeq(), i + 2);
    }
    t.onPacket(ok(8, 1));
    assert.deepEqual(out, ['OK, 3 rows affected', "ERROR 1146 (42S02): Table 'x' doesn't exist", '2 rows', 'OK, 1 row affected']);
    assert.equal(t.injectSeq(), undefined, 'nothing waits for an answer');
  });

  test('a prepare: id and parameter count, definitions skipped; a refused prepare', () => {
    const { t, out, prepared } = tracker();
    t.expect('prepare');
    t.onPacket(p(1, [0, 5, 0, 0, 0, 1, 0, 2, 0, 0, 0, 0]));
    for (let i = 0; i < 5; i++) t.onPacket(p(2 + i, [3, 1, 2, 3])); // 2 params + EOF, 1 column + EOF
    t.expect('single');
    t.onPacket(ok(1, 0));
    t.expect('prepare');
    t.onPacket(p(1, errPacket(1, 1064, '42000', 'syntax').subarray(4)));
    assert.deepEqual(prepared, [
      [5, 2],
      [undefined, 0],
    ]);
    assert.deepEqual(out, [], 'prepares leave no transcript lines');
  });

  test('LOCAL INFILE, and a long row continued in the next packet counts once', () => {
    const { t, out, files } = tracker();
    t.expect('result');
    t.onPacket(p(1, [0xfb, 0x2f]));
    assert.equal(files(), 1);
    t.onPacket(ok(3, 10));
    t.expect('result');
    t.onPacket(p(1, [1]));
    t.onPacket(p(2, [3]));
    t.onPacket(eof(3));
    t.onPacket(p(4, [0xfe], 0xffffff));
    t.onPacket(p(5, [0xfe, 0, 0, 0, 0])); // continuation bytes, not an EOF
    t.onPacket(eof(6));
    assert.deepEqual(out, ['OK, 10 rows affected', '1 row']);
  });
});
