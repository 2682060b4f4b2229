// Message framing: messages split across chunks at any byte (header included) come out whole;
// only the kept types' bodies are kept, up to the cap, and marked cut beyond it; a length under
// 4 is a protocol error; atBoundary() is true only between messages.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ProtocolError } from '../../../../../src/proxy/db/framer.js';
import { message, MessageFramer, type Frame } from '../../../../../src/proxy/db/postgres/wire.js';

const frames = (keep: (t: number) => boolean, cap: number) => {
  const seen: Frame[] = [];
  return { seen, framer: new MessageFramer(keep, cap, (f) => seen.push({ ...f, body: Buffer.from(f.body) })) };
};

describe('MessageFramer', () => {
  const stream = Buffer.concat([
    message('Q', Buffer.from('SELECT 1\0')),
    message('d', Buffer.alloc(1000, 0x61)),
    message('S'),
    message('Q', Buffer.from('SELECT 2\0')),
  ]);

  test('whole messages from chunks split at every possible byte', () => {
    for (let split = 1; split < stream.length; split++) {
      const { seen, framer } = frames((t) => t === 0x51, 1 << 20);
      framer.push(stream.subarray(0, split));
      framer.push(stream.subarray(split));
      assert.deepEqual(
        seen.map((f) => f.body.toString()),
        ['SELECT 1\0', 'SELECT 2\0'],
        `split at ${split}`,
      );
      assert.ok(framer.atBoundary());
    }
  });

  test('one byte at a time', () => {
    const { seen, framer } = frames(() => true, 1 << 20);
    for (const byte of stream) framer.push(Buffer.from([byte]));
    assert.deepEqual(
      seen.map((f) => [String.fromCharCode(f.type), f.length]),
      [
        ['Q', 9],
        ['d', 1000],
        ['S', 0],
        ['Q', 9],
      ],
    );
  });

  test('bodies over the cap are kept in part and marked cut; other types are not kept', () => {
    const { seen, framer } = frames((t) => t === 0x64, 10);
    framer.push(stream);
    assert.equal(seen.length, 1);
    assert.equal(seen[0].body.length, 10);
    assert.equal(seen[0].cut, true);
    assert.equal(seen[0].length, 1000);
  });

  test('atBoundary is false inside a message', () => {
    const { framer } = frames(() => false, 10);
    framer.push(stream.subarray(0, 3));
    assert.equal(framer.atBoundary(), false);
    framer.push(stream.subarray(3, 14));
    assert.equal(framer.atBoundary(), true);
  });

  test('a length under 4 is a protocol error', () => {
    const { framer } = frames(() => true, 10);
    assert.throws(() => framer.push(Buffer.from([0x51, 0, 0, 0, 3])), ProtocolError);
  });
});
