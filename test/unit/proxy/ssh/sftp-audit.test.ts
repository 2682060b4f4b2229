import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createSftpAuditor } from '../../../../src/proxy/ssh/sftp-audit.js';
import { sshString, u32, u64 } from '../../../../src/ssh-ca/wire.js';

const packet = (type: number, ...fields: Buffer[]) => {
  const body = Buffer.concat([Buffer.from([type]), ...fields]);
  return Buffer.concat([u32(body.length), body]);
};
/** Feeds a stream in small, awkward pieces, as TCP may deliver it. */
const chop = (feed: (b: Buffer) => void, data: Buffer, size = 7) => {
  for (let i = 0; i < data.length; i += size) feed(data.subarray(i, i + size));
};

test('SFTP auditing follows uploads, downloads and changes across arbitrary chunking', () => {
  const events: [string, string, Record<string, unknown>][] = [];
  const a = createSftpAuditor((type, outcome, details) => events.push([type, outcome, details]));
  const handle = Buffer.from('h1');
  const data = Buffer.alloc(70_000, 1);
  chop(a.fromClient, Buffer.concat([packet(1, u32(3)), packet(3, u32(1), sshString('/tmp/up'), u32(0x1a), u32(0))]));
  chop(a.fromServer, Buffer.concat([packet(2, u32(3)), packet(102, u32(1), sshString(handle))]));
  chop(
    a.fromClient,
    Buffer.concat([
      packet(6, u32(2), sshString(handle), u64(0n), sshString(data)),
      packet(6, u32(3), sshString(handle), u64(70_000n), sshString(data.subarray(0, 30))),
    ]),
    4096,
  );
  chop(a.fromClient, packet(4, u32(4), sshString(handle)));
  // A download of 2 reads.
  chop(a.fromClient, packet(3, u32(5), sshString('/etc/motd'), u32(0x01), u32(0)));
  chop(a.fromServer, packet(102, u32(5), sshString('h2')));
  chop(a.fromClient, Buffer.concat([packet(5, u32(6), sshString('h2'), u64(0n), u32(32768)), packet(5, u32(7), sshString('h2'), u64(32768n), u32(32768))]));
  chop(a.fromServer, Buffer.concat([packet(103, u32(6), sshString(Buffer.alloc(32768))), packet(103, u32(7), sshString(Buffer.alloc(100)))]), 1000);
  chop(a.fromClient, packet(4, u32(8), sshString('h2')));
  // Changes: a rename that succeeds and a remove that fails.
  chop(a.fromClient, Buffer.concat([packet(18, u32(9), sshString('/a'), sshString('/b')), packet(13, u32(10), sshString('/nope'))]));
  chop(
    a.fromServer,
    Buffer.concat([packet(101, u32(9), u32(0), sshString(''), sshString('')), packet(101, u32(10), u32(2), sshString('no such file'), sshString(''))]),
  );
  // An upload still open when the session ends.
  chop(a.fromClient, packet(3, u32(11), sshString('/tmp/partial'), u32(0x1a), u32(0)));
  chop(a.fromServer, packet(102, u32(11), sshString('h3')));
  chop(a.fromClient, packet(6, u32(12), sshString('h3'), u64(0n), sshString(Buffer.alloc(10))));
  a.close();
  assert.deepEqual(events, [
    ['sftp.upload', 'success', { path: '/tmp/up', direction: 'upload', size: 70_030, interrupted: undefined }],
    ['sftp.download', 'success', { path: '/etc/motd', direction: 'download', size: 32_868, interrupted: undefined }],
    ['sftp.change', 'success', { op: 'rename', path: '/a', target: '/b', status: 0 }],
    ['sftp.change', 'failure', { op: 'remove', path: '/nope', status: 2 }],
    ['sftp.upload', 'failure', { path: '/tmp/partial', direction: 'upload', size: 10, interrupted: true }],
  ]);
});
