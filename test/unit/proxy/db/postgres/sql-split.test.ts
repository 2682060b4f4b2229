// Splitting a simple Query into statements: at top-level `;` only, never inside quotes, quoted
// identifiers, dollar quotes or comments; empty and comment-only statements are dropped.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { splitStatements } from '../../../../../src/proxy/db/postgres/sql-split.js';

test('statements split at top-level semicolons only', () => {
  const cases: [string, string[]][] = [
    ['SELECT 1', ['SELECT 1']],
    ['SELECT 1; SELECT 2;', ['SELECT 1', 'SELECT 2']],
    ["SELECT ';'; SELECT 'it''s; fine'", ["SELECT ';'", "SELECT 'it''s; fine'"]],
    ["SELECT E'\\';'; SELECT 2", ["SELECT E'\\';'", 'SELECT 2']],
    ['SELECT "a;""b" FROM t; SELECT 3', ['SELECT "a;""b" FROM t', 'SELECT 3']],
    [
      'CREATE FUNCTION f() RETURNS int AS $$ SELECT 1; $$ LANGUAGE sql; SELECT f()',
      ['CREATE FUNCTION f() RETURNS int AS $$ SELECT 1; $$ LANGUAGE sql', 'SELECT f()'],
    ],
    ['DO $body$ BEGIN PERFORM 1; END $body$; SELECT 4', ['DO $body$ BEGIN PERFORM 1; END $body$', 'SELECT 4']],
    ['SELECT $1; SELECT 5', ['SELECT $1', 'SELECT 5']],
    ['-- just a comment; still\nSELECT 1 /* a; /* nested; */ b; */', ['-- just a comment; still\nSELECT 1 /* a; /* nested; */ b; */']],
    ['; ;  ; -- only a comment', []],
    ['', []],
    ["SELECT 'unterminated; SELECT 2", ["SELECT 'unterminated; SELECT 2"]],
  ];
  for (const [sql, expected] of cases) assert.deepEqual(splitStatements(sql), expected, sql);
});
