// MySQL packet framing: packets split across chunks at any byte (header included) come out
// whole; only the first bytes of a payload are kept, marked cut beyond the cap; lenenc and ERR
// packets encode as the protocol says; the reader tolerates payloads cut short.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { errPacket, lenenc, packet, PacketFramer, PayloadReader, type Packet } from '../../../../../src/proxy/db/mysql/wire.js';

describe('PacketFramer', () => {
  const stream = Buffer.concat([
    packet(0, Buffer.from('\x03SELECT 1')),
    packet(1, Buffer.alloc(1000, 0x61)),
    packet(2, Buffer.alloc(0)),
    packet(0, Buffer.from('\x01')),
  ]);

  test('whole packets from chunks split at every possible byte', () => {
    for (let split = 1; split < stream.length; split++) {
      const seen: Packet[] = [];
      const framer = new PacketFramer(1 << 20, (p) => seen.push({ ...p, head: Buffer.from(p.head) }));
      framer.push(stream.subarray(0, split));
      framer.push(stream.subarray(split));
      assert.deepEqual(
        seen.map((p) => [p.seq, p.length, p.head.length]),
        [
          [0, 9, 9],
          [1, 1000, 1000],
          [2, 0, 0],
          [0, 1, 1],
        ],
        `split at ${split}`,
      );
      assert.ok(framer.atBoundary());
    }
  });

  test('keeps only the first bytes of a payload, marked cut; atBoundary is false inside a packet', () => {
    const seen: Packet[] = [];
    const framer = new PacketFramer(10, (p) => seen.push(p));
    const big = packet(3, Buffer.alloc(5000, 0x62));
    framer.push(big.subarray(0, 100));
    assert.equal(framer.atBoundary(), false);
    framer.push(big.subarray(100));
    assert.equal(seen[0].head.length, 10);
    assert.equal(seen[0].length, 5000);
    assert.equal(seen[0].cut, true);
  });
});

describe('encodings', () => {
  test('lenenc integers round-trip through the reader', () => {
    for (const n of [0, 250, 251, 65535, 65536, 16777215, 16777216, 2 ** 40]) {
      assert.equal(new PayloadReader(lenenc(n)).lenenc(), n, String(n));
    }
    assert.equal(new PayloadReader(Buffer.from([0xfb])).lenenc(), undefined, 'NULL marker');
  });

  test('an ERR packet carries the number, #SQLSTATE and message', () => {
    const p = errPacket(2, 1045, '28000', 'no');
    assert.deepEqual([...p.subarray(0, 4)], [p.length - 4, 0, 0, 2]);
    assert.equal(p[4], 0xff);
    assert.equal(p.readUInt16LE(5), 1045);
    assert.equal(p.toString('latin1', 7), '#28000no');
  });

  test('a cut payload reads as far as it goes and says so', () => {
    const r = new PayloadReader(Buffer.from([0xfc, 0x10]));
    assert.equal(r.lenenc(), undefined);
    assert.equal(r.cut, true);
    const s = new PayloadReader(Buffer.from('abc'));
    assert.equal(s.nulString(), 'abc');
    assert.equal(s.left, 0);
  });
});
