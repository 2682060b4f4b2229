// COM_QUERY splitting: at top-level `;` only, not inside quotes (backslash and doubled), backtick
// identifiers or comments; executable comments are statements; stripComments opens them.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { splitMysqlStatements, stripComments } from '../../../../../src/proxy/db/mysql/sql-split.js';

describe('splitMysqlStatements', () => {
  test('splits at top-level semicolons only', () => {
    assert.deepEqual(splitMysqlStatements("SELECT 'a;b'; SELECT \"c\\\";d\"; SELECT `e;f` FROM t; SELECT 'it''s;'"), [
      "SELECT 'a;b'",
      'SELECT "c\\";d"',
      'SELECT `e;f` FROM t',
      "SELECT 'it''s;'",
    ]);
    assert.deepEqual(splitMysqlStatements('SELECT 1 -- x; y\n; # z;\nSELECT 2 /* ; */;;'), ['SELECT 1 -- x; y', '# z;\nSELECT 2 /* ; */']);
    assert.deepEqual(splitMysqlStatements('SELECT 1--2; SELECT 3'), ['SELECT 1--2', 'SELECT 3'], '-- without a space is arithmetic');
  });

  test('comment-only parts are dropped; executable comments are kept', () => {
    assert.deepEqual(splitMysqlStatements('/* nothing */; -- none\n; /*!40101 SET NAMES utf8 */;'), ['/*!40101 SET NAMES utf8 */']);
  });
});

describe('stripComments', () => {
  test('drops leading comments and opens executable ones', () => {
    assert.equal(stripComments('  /* a */ -- b\n# c\nKILL 5'), 'KILL 5');
    assert.equal(stripComments('/*!50000 KILL QUERY 7 */'), 'KILL QUERY 7');
    assert.equal(stripComments('/*M!100000 USE other */'), 'USE other');
  });
});
