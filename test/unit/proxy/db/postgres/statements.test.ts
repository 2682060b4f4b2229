// The statement tracker: simple Queries yield one statement per SQL statement; the extended
// protocol yields one per Execute with the Parse text and the Bind parameters of its portal;
// named statements are reused and forgotten on Close; text over max_query_chars is cut.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createStatementTracker } from '../../../../../src/proxy/db/postgres/statements.js';

const int16 = (n: number) => Buffer.from([(n >> 8) & 0xff, n & 0xff]);
const int32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeInt32BE(n);
  return b;
};
const cstr = (s: string) => Buffer.from(`${s}\0`);
const frame = (type: string, body: Buffer) => ({ type: type.charCodeAt(0), body, length: body.length, cut: false });
const parse = (name: string, text: string) => frame('P', Buffer.concat([cstr(name), cstr(text), int16(0)]));
const bind = (portal: string, statement: string, values: string[]) =>
  frame(
    'B',
    Buffer.concat([
      cstr(portal),
      cstr(statement),
      int16(0),
      int16(values.length),
      ...values.flatMap((v) => [int32(Buffer.byteLength(v)), Buffer.from(v)]),
      int16(0),
    ]),
  );
const execute = (portal: string) => frame('E', Buffer.concat([cstr(portal), int32(0)]));

test('simple queries: one statement each, in order', () => {
  const t = createStatementTracker({ maxChars: 100 });
  assert.deepEqual(t.onFrame(frame('Q', cstr('SELECT 1; SELECT 2'))), [
    { protocol: 'simple', text: 'SELECT 1', cut: false },
    { protocol: 'simple', text: 'SELECT 2', cut: false },
  ]);
});

test('extended protocol: Parse, Bind, Execute; named statements reused until closed', () => {
  const t = createStatementTracker({ maxChars: 100 });
  assert.deepEqual(t.onFrame(parse('s1', 'SELECT $1')), []);
  assert.deepEqual(t.onFrame(bind('', 's1', ['a'])), []);
  assert.deepEqual(t.onFrame(execute('')), [
    { protocol: 'extended', text: 'SELECT $1', cut: false, params: [{ value: 'a', format: 'text', cut: false }], name: 's1' },
  ]);
  t.onFrame(bind('', 's1', ['b']));
  assert.equal(t.onFrame(execute(''))[0].params?.[0].value, 'b');
  t.onFrame(frame('C', Buffer.concat([Buffer.from('S'), cstr('s1')])));
  t.onFrame(bind('', 's1', ['c']));
  assert.deepEqual(t.onFrame(execute('')), [{ protocol: 'extended', text: '', cut: true, params: [{ value: 'c', format: 'text', cut: false }], name: 's1' }]);
  assert.deepEqual(t.onFrame(execute('nope')), [{ protocol: 'extended', text: '', cut: true, params: [] }]);
});

test('text over max_query_chars is cut and marked', () => {
  const t = createStatementTracker({ maxChars: 8 });
  assert.deepEqual(t.onFrame(frame('Q', cstr('SELECT 123456'))), [{ protocol: 'simple', text: 'SELECT 1', cut: true }]);
  t.onFrame(parse('', 'SELECT 123456'));
  t.onFrame(bind('', '', []));
  assert.deepEqual(t.onFrame(execute('')), [{ protocol: 'extended', text: 'SELECT 1', cut: true, params: [], name: '' }]);
});
