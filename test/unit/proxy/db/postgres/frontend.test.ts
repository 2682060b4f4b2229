// The frontend parser: startup packets (SSLRequest, GSSENCRequest, CancelRequest, StartupMessage)
// with the length cap checked from the first four bytes; Query/Parse/Bind/Execute/Close decoded
// from bodies that may be cut by the capture cap, with text and binary parameters and NULL.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { B, C, decodeFrontend, E, P, Q, readStartupPacket, STARTUP_MAX } from '../../../../../src/proxy/db/postgres/frontend.js';
import { ProtocolError } from '../../../../../src/proxy/db/framer.js';

const int32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeInt32BE(n);
  return b;
};
const int16 = (n: number) => {
  const b = Buffer.alloc(2);
  b.writeInt16BE(n);
  return b;
};
const cstr = (s: string) => Buffer.from(`${s}\0`);
const startup = (params: Record<string, string>) => {
  const body = Buffer.concat([int32(196608), ...Object.entries(params).flatMap(([k, v]) => [cstr(k), cstr(v)]), Buffer.from([0])]);
  return Buffer.concat([int32(body.length + 4), body]);
};

describe('startup packets', () => {
  test('SSLRequest, GSSENCRequest and CancelRequest', () => {
    assert.deepEqual(readStartupPacket(Buffer.concat([int32(8), int32(80877103)])), { packet: { kind: 'ssl' }, used: 8 });
    assert.deepEqual(readStartupPacket(Buffer.concat([int32(8), int32(80877104)])), { packet: { kind: 'gssenc' }, used: 8 });
    assert.deepEqual(readStartupPacket(Buffer.concat([int32(16), int32(80877102), int32(1234), int32(-5)])), {
      packet: { kind: 'cancel', pid: 1234, secret: -5 },
      used: 16,
    });
  });

  test('a StartupMessage with its parameters; the bytes after it are left', () => {
    const packet = startup({ user: 'alice', database: 'test', application_name: 'psql' });
    const read = readStartupPacket(Buffer.concat([packet, Buffer.from('Q')]));
    assert.deepEqual(read, { packet: { kind: 'startup', params: { user: 'alice', database: 'test', application_name: 'psql' } }, used: packet.length });
  });

  test('incomplete packets wait for more bytes', () => {
    const packet = startup({ user: 'alice' });
    assert.equal(readStartupPacket(packet.subarray(0, 3)), undefined);
    assert.equal(readStartupPacket(packet.subarray(0, packet.length - 1)), undefined);
  });

  test('a length over the cap is refused from the first four bytes (a 100 MB packet is never waited for)', () => {
    assert.throws(() => readStartupPacket(int32(100 * 1024 * 1024)), ProtocolError);
    assert.throws(() => readStartupPacket(int32(STARTUP_MAX + 1)), /invalid startup packet length/);
    assert.throws(() => readStartupPacket(Buffer.from('GET / HTTP/1.1')), /invalid startup packet length/);
    assert.throws(() => readStartupPacket(int32(4)), /invalid startup packet length 4/);
  });

  test('malformed StartupMessages are refused', () => {
    assert.throws(() => readStartupPacket(Buffer.concat([int32(12), int32(131072), Buffer.from('ab\0\0')])), /unsupported frontend protocol 2\.0/);
    assert.throws(() => readStartupPacket(Buffer.concat([int32(12), int32(196608), Buffer.from('user')])), /unterminated/);
    assert.throws(() => readStartupPacket(startup({ database: 'x' })), /no PostgreSQL user name/);
    assert.throws(() => readStartupPacket(Buffer.concat([int32(12), int32(80877103), int32(0)])), /invalid ssl request length/);
    const trailing = Buffer.concat([int32(18), int32(196608), cstr('user'), cstr('a'), Buffer.from([0, 0x41, 0x42])]);
    assert.throws(() => readStartupPacket(trailing), /bytes after the parameter list/);
  });
});

describe('frontend messages for the audit', () => {
  test('Query and Parse', () => {
    assert.deepEqual(decodeFrontend(Q, cstr('SELECT 1'), false, 100), { type: 'query', text: 'SELECT 1', cut: false });
    assert.deepEqual(decodeFrontend(P, Buffer.concat([cstr('s1'), cstr('SELECT $1'), int16(1), int32(23)]), false, 100), {
      type: 'parse',
      name: 's1',
      text: 'SELECT $1',
      cut: false,
    });
  });

  test('a Query cut by the capture cap is marked cut', () => {
    assert.deepEqual(decodeFrontend(Q, Buffer.from('SELECT lo'), true, 100), { type: 'query', text: 'SELECT lo', cut: true });
  });

  test('Bind: text, binary (hex) and NULL parameters; long values kept to the cap and marked', () => {
    const body = Buffer.concat([
      cstr('p'),
      cstr('s1'),
      int16(3),
      int16(0),
      int16(1),
      int16(0),
      int16(4),
      int32(5),
      Buffer.from('héll'),
      int32(2),
      Buffer.from([0xca, 0xfe]),
      int32(-1),
      int32(6),
      Buffer.from('abcdef'),
      int16(0),
    ]);
    const msg = decodeFrontend(B, body, false, 4);
    assert.deepEqual(msg, {
      type: 'bind',
      portal: 'p',
      statement: 's1',
      params: [
        { value: 'hél', format: 'text', cut: true },
        { value: '\\xcafe', format: 'binary', cut: false },
        { value: null, format: 'text', cut: false },
        { value: 'abcd', format: 'text', cut: true },
      ],
      cut: false,
    });
  });

  test('Bind with one format code for all parameters, and a body cut short', () => {
    const body = Buffer.concat([cstr(''), cstr(''), int16(1), int16(1), int16(2), int32(1), Buffer.from([7]), int32(100), Buffer.from('xy')]);
    const msg = decodeFrontend(B, body, true, 1000);
    assert.equal(msg?.type, 'bind');
    assert.deepEqual(msg?.type === 'bind' && msg.params, [
      { value: '\\x07', format: 'binary', cut: false },
      { value: '\\x7879', format: 'binary', cut: true },
    ]);
  });

  test('Execute and Close', () => {
    assert.deepEqual(decodeFrontend(E, Buffer.concat([cstr('p'), int32(0)]), false, 10), { type: 'execute', portal: 'p' });
    assert.deepEqual(decodeFrontend(C, Buffer.concat([Buffer.from('S'), cstr('s1')]), false, 10), { type: 'close', kind: 'statement', name: 's1' });
    assert.deepEqual(decodeFrontend(C, Buffer.concat([Buffer.from('P'), cstr('')]), false, 10), { type: 'close', kind: 'portal', name: '' });
    assert.equal(decodeFrontend(0x53, Buffer.alloc(0), false, 10), undefined);
  });
});
