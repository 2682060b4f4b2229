// The client side of a relayed session: commands are audited, checked and rewritten before the
// server sees them, everything else passes byte for byte and in order (big packets streamed,
// asynchronous KILL checks holding later bytes back); refusals answer the client instead.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { AuditedStatement } from '../../../../../src/proxy/db/session-audit.js';
import { CommandStream } from '../../../../../src/proxy/db/mysql/command-stream.js';
import { createCommandHandler, type KillDecision } from '../../../../../src/proxy/db/mysql/commands.js';
import { packet } from '../../../../../src/proxy/db/mysql/wire.js';

const cmd = (kind: number, body: Buffer | string = '') =>
  packet(0, Buffer.concat([Buffer.from([kind]), Buffer.isBuffer(body) ? body : Buffer.from(body, 'utf8')]));
const u32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n);
  return b;
};

function session(options: { multi?: boolean; hold?: number; kill?: (id: number) => Promise<KillDecision> } = {}) {
  const statements: AuditedStatement[] = [];
  const sent: Buffer[] = [];
  const replies: { bytes: Buffer; end: boolean }[] = [];
  const expects: string[] = [];
  const handler = createCommandHandler({
    maxChars: 100,
    multiStatements: options.multi ?? true,
    checkName: (name) => (name === 'secret' ? { reason: 'db_name_not_allowed', message: 'not that one' } : undefined),
    kill: options.kill ?? (async (id) => (id === 42 ? { upstreamId: 7 } : { code: 1095, message: `You are not owner of thread ${id}` })),
    statement: (s) => statements.push(s),
    summary: () => {},
    expect: (k) => expects.push(k),
  });
  const stream = new CommandStream(
    options.hold ?? 1024,
    (c) => handler.decide(c),
    (b) => sent.push(Buffer.from(b)),
    (bytes, end) => replies.push({ bytes, end }),
    (err) => assert.fail(err),
  );
  return { stream, handler, statements, sent: () => Buffer.concat(sent), replies, expects };
}
const tick = () => new Promise((r) => setImmediate(r));

describe('CommandStream with the command handler', () => {
  test('COM_QUERY: split into statements, forwarded unchanged even when split at every byte', () => {
    const bytes = Buffer.concat([cmd(0x03, "SELECT 1; SELECT 'a;b'"), cmd(0x0e)]);
    for (let split = 1; split < bytes.length; split++) {
      const s = session();
      s.stream.push(bytes.subarray(0, split));
      s.stream.push(bytes.subarray(split));
      assert.ok(s.sent().equals(bytes), `split at ${split}`);
      assert.deepEqual(
        s.statements.map((x) => x.text),
        ['SELECT 1', "SELECT 'a;b'"],
      );
      assert.deepEqual(s.expects, ['result', 'single']);
    }
    const single = session({ multi: false });
    single.stream.push(cmd(0x03, 'SELECT 1; SELECT 2'));
    assert.deepEqual(
      single.statements.map((x) => x.text),
      ['SELECT 1; SELECT 2'],
      'not split without CLIENT_MULTI_STATEMENTS',
    );
  });

  test('a command bigger than the hold streams through byte-exact; its text is cut', () => {
    const s = session({ hold: 64 });
    const big = cmd(0x03, `INSERT INTO t VALUES ('${'x'.repeat(100_000)}')`);
    for (let i = 0; i < big.length; i += 1000) s.stream.push(big.subarray(i, i + 1000));
    assert.ok(s.sent().equals(big));
    assert.equal(s.statements[0].cut, true);
    assert.equal(s.statements[0].text.length, 100, 'max_query_chars');
  });

  test('COM_INIT_DB and USE of a name not allowed are dropped and answered with ERR 1044', () => {
    const s = session();
    s.stream.push(Buffer.concat([cmd(0x02, 'secret'), cmd(0x03, 'SELECT 1; USE `secret`'), cmd(0x02, 'fine')]));
    assert.ok(s.sent().equals(cmd(0x02, 'fine')));
    assert.deepEqual(
      s.replies.map((r) => r.bytes.readUInt16LE(5)),
      [1044, 1044],
    );
    assert.deepEqual(
      s.statements.map((x) => [x.text, x.refused?.reason]),
      [
        ['USE `secret`', 'db_name_not_allowed'],
        ['USE `secret`', 'db_name_not_allowed'],
        ['USE `fine`', undefined],
      ],
    );
  });

  test('KILL: the gateway id is rewritten to the server id; a refused one is answered; later bytes wait their turn', async () => {
    const s = session();
    s.stream.push(cmd(0x03, 'KILL QUERY 42'));
    s.stream.push(cmd(0x03, 'SELECT 2'));
    assert.equal(s.sent().length, 0, 'held while the KILL is checked');
    await tick();
    assert.ok(s.sent().equals(Buffer.concat([cmd(0x03, 'KILL QUERY 7'), cmd(0x03, 'SELECT 2')])));
    s.stream.push(cmd(0x03, 'KILL 9'));
    await tick();
    assert.equal(s.replies[0].bytes.readUInt16LE(5), 1095);
    s.stream.push(cmd(0x03, 'SELECT 1; KILL 42'));
    assert.equal(s.replies[1].bytes.readUInt16LE(5), 1095, 'KILL must be on its own');
    s.stream.push(cmd(0x0c, u32(42)));
    await tick();
    assert.ok(
      s
        .sent()
        .subarray(-9)
        .equals(cmd(0x0c, u32(7))),
    );
  });

  test('prepared statements: the server id maps to the text; execute carries the parameters', () => {
    const s = session();
    s.stream.push(cmd(0x16, 'SELECT ?'));
    s.handler.prepared(3, 1);
    const execute = Buffer.concat([u32(3), Buffer.from([0, 1, 0, 0, 0, 0, 1, 0x03, 0]), u32(99)]);
    s.stream.push(cmd(0x17, execute));
    assert.deepEqual(s.statements[0], { protocol: 'binary', text: 'SELECT ?', cut: false, name: '3', params: [{ value: '99', cut: false }] });
    assert.deepEqual(s.expects, ['prepare', 'result']);
  });

  test('COM_CHANGE_USER and replication end the session with an ERR; LOCAL INFILE contents pass as data', () => {
    const s = session();
    s.stream.push(cmd(0x11, 'root\0'));
    assert.equal(s.replies[0].end, true);
    assert.equal(s.replies[0].bytes.readUInt16LE(5), 1045);
    const f = session();
    f.stream.sendingFile = true;
    const file = Buffer.concat([packet(2, Buffer.from('\x02KILL 9 looks like a command')), packet(3, Buffer.alloc(0)), cmd(0x0e)]);
    f.stream.push(file);
    assert.ok(f.sent().equals(file));
    assert.deepEqual(f.statements, []);
    assert.deepEqual(f.expects, ['single']);
  });
});
