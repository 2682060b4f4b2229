import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { createChannelTap } from '../../../../src/proxy/kube/ws-tap.js';

/** One WebSocket frame, as RFC 6455 writes it (masked when a key is given). */
function frame(opcode: number, payload: Buffer, options: { fin?: boolean; mask?: Buffer } = {}): Buffer {
  const len = payload.length;
  const head =
    len < 126 ? Buffer.from([0, len]) : len < 65536 ? Buffer.from([0, 126, len >> 8, len & 0xff]) : Buffer.concat([Buffer.from([0, 127]), Buffer.alloc(8)]);
  if (len >= 65536) head.writeBigUInt64BE(BigInt(len), 2);
  head[0] = (options.fin === false ? 0 : 0x80) | opcode;
  if (!options.mask) return Buffer.concat([head, payload]);
  head[1] |= 0x80;
  const masked = Buffer.from(payload.map((b, i) => b ^ options.mask![i & 3]));
  return Buffer.concat([head, options.mask, masked]);
}

const collect = (base64 = false) => {
  const seen: Record<number, string> = {};
  const tap = createChannelTap((ch, data) => (seen[ch] = (seen[ch] ?? '') + data.toString()), { base64 });
  return { seen, tap };
};

test('channels of binary frames, split at every byte, masked or not, fragmented, with control frames between', () => {
  const big = 'x'.repeat(70_000);
  const stream = Buffer.concat([
    frame(2, Buffer.from('\x01hello ')),
    frame(9, Buffer.from('ping')),
    frame(2, Buffer.from('\x02err'), { mask: randomBytes(4) }),
    frame(2, Buffer.from('\x01wor'), { fin: false }),
    frame(10, Buffer.from('pong')),
    frame(0, Buffer.from('ld'), { fin: true }),
    frame(2, Buffer.concat([Buffer.from([1]), Buffer.from(big)])),
    frame(2, Buffer.from('\x03{"status":"Success"}')),
  ]);
  const whole = collect();
  whole.tap.write(stream);
  assert.deepEqual(whole.seen, { 1: `hello world${big}`, 2: 'err', 3: '{"status":"Success"}' });
  const bytewise = collect();
  for (let i = 0; i < stream.length; i += 7) bytewise.tap.write(stream.subarray(i, i + 7));
  assert.deepEqual(bytewise.seen, whole.seen);
});

test('base64.channel.k8s.io text frames', () => {
  const { seen, tap } = collect(true);
  tap.write(frame(1, Buffer.from(`1${Buffer.from('hi there').toString('base64')}`)));
  tap.write(frame(1, Buffer.from(`4${Buffer.from('{"Width":80,"Height":24}').toString('base64')}`), { mask: randomBytes(4) }));
  assert.deepEqual(seen, { 1: 'hi there', 4: '{"Width":80,"Height":24}' });
});
