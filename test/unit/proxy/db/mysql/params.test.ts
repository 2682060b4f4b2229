// COM_STMT_EXECUTE parameters: integers (signed and unsigned), doubles, strings, blobs as hex,
// NULL (bitmap and type), dates and times, types kept from the previous execute, long data,
// unknown types as hex, and a payload cut by the capture cap.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { decodeExecuteParams } from '../../../../../src/proxy/db/mysql/params.js';
import { lenenc } from '../../../../../src/proxy/db/mysql/wire.js';

const u16 = (n: number) => Buffer.from([n & 0xff, n >> 8]);
const head = (nulls: number[], types?: number[]) =>
  Buffer.concat([Buffer.alloc(9), Buffer.from(nulls), Buffer.from([types ? 1 : 0]), ...(types ?? []).map(u16)]);
const str = (s: string | Buffer) => {
  const b = Buffer.isBuffer(s) ? s : Buffer.from(s, 'utf8');
  return Buffer.concat([lenenc(b.length), b]);
};

describe('decodeExecuteParams', () => {
  test('the common types', () => {
    const double = Buffer.alloc(8);
    double.writeDoubleLE(2.5);
    const big = Buffer.alloc(8);
    big.writeBigInt64LE(-(2n ** 40n));
    const types = [0x01, 0x02 | 0x8000, 0x03, 0x08, 0x05, 0xfd, 0xfc, 0x06, 0x0c, 0x0a, 0x0b, 0xfd];
    const payload = Buffer.concat([
      head([0, 0x08], types), // parameter 11 (index 11) is NULL by the bitmap
      Buffer.from([0xff]),
      u16(65535),
      Buffer.from([0xfe, 0xff, 0xff, 0xff]),
      big,
      double,
      str('héllo'),
      str(Buffer.from([0, 1, 2, 255])),
      // 0x06 NULL type: no bytes
      Buffer.from([7, 0xe8, 0x07, 1, 2, 3, 4, 5]),
      Buffer.from([4, 0xe8, 0x07, 12, 31]),
      Buffer.from([8, 1, 1, 0, 0, 0, 2, 3, 4]),
    ]);
    const { params, types: kept } = decodeExecuteParams(payload, false, types.length, undefined, new Set());
    assert.deepEqual(
      params.map((p) => p.value),
      ['-1', '65535', '-2', String(-(2n ** 40n)), '2.5', 'héllo', '\\x000102ff', null, '2024-01-02 03:04:05', '2024-12-31', '-26:03:04', null],
    );
    assert.equal(params[6].format, 'binary');
    assert.deepEqual(kept, types);
  });

  test('types from the previous execute, long data, unknown types as hex, a cut payload', () => {
    const again = decodeExecuteParams(Buffer.concat([head([0]), Buffer.from([5, 0, 0, 0]), str('x')]), false, 2, [0x03, 0xfe], new Set());
    assert.deepEqual(
      again.params.map((p) => p.value),
      ['5', 'x'],
    );
    const long = decodeExecuteParams(Buffer.concat([head([0], [0xfc, 0x03]), Buffer.from([9, 0, 0, 0])]), false, 2, undefined, new Set([0]));
    assert.deepEqual(
      long.params.map((p) => [p.value, p.cut]),
      [
        ['(sent as long data)', true],
        ['9', false],
      ],
    );
    const unknown = decodeExecuteParams(Buffer.concat([head([0], [0x42, 0x03]), Buffer.from([1, 2, 3])]), false, 2, undefined, new Set());
    assert.deepEqual(unknown.params[0], { value: '\\x010203', format: 'binary', cut: false });
    assert.equal(unknown.params[1].cut, true);
    const cut = decodeExecuteParams(Buffer.concat([head([0], [0xfd]), lenenc(100), Buffer.from('abc')]), true, 1, undefined, new Set());
    assert.deepEqual(cut.params, [{ value: 'abc', cut: true }]);
  });
});
