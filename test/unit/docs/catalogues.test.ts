/**
 * The docs and the catalogues agree:
 * - every code in src/core/error-codes.ts is in a table of docs/errors.md, and every code in those
 *   tables is in the catalogue (unless its status cell says `(external)`); a documented status
 *   is one the catalogue allows for the code;
 * - docs/audit-events.md's catalogue table lists exactly the types of src/audit/catalogue.ts, with
 *   the same success and failure codes.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { AUDIT_EVENTS } from '../../../src/audit/catalogue.js';
import { ERROR_CODES, isErrorCode, statusesOf } from '../../../src/core/error-codes.js';

const doc = (name: string) => readFileSync(new URL(`../../../docs/${name}`, import.meta.url), 'utf8');

/** Table rows (`| a | b | ... |`) that are not a header or separator, split into trimmed cells. */
function tableRows(markdown: string): string[][] {
  return markdown
    .split('\n')
    .filter((line) => line.startsWith('|') && !/^\|[\s|:-]+\|$/.test(line))
    .map((line) =>
      line
        .slice(1, line.endsWith('|') ? -1 : undefined)
        .split('|')
        .map((cell) => cell.trim()),
    )
    .filter((cells) => cells[0] !== 'code' && cells[0] !== 'type' && cells[0] !== 'field' && cells[0] !== 'reason');
}

const codesIn = (cell: string) => [...cell.matchAll(/`([a-z0-9_]+)`/g)].map((m) => m[1]);

describe('docs/errors.md and src/core/error-codes.ts', () => {
  const rows = tableRows(doc('errors.md')).map(([first, second]) => ({ codes: codesIn(first), status: second ?? '' }));
  const documented = new Map<string, string[]>();
  for (const row of rows) for (const code of row.codes) documented.set(code, [...(documented.get(code) ?? []), row.status]);

  test('every catalogue code is documented', () => {
    const missing = Object.keys(ERROR_CODES).filter((code) => !documented.has(code));
    assert.deepEqual(missing, [], 'codes in src/core/error-codes.ts but not in a docs/errors.md table');
  });

  test('every documented code is in the catalogue, or marked (external)', () => {
    const unknown = [...documented].filter(([code, statuses]) => !isErrorCode(code) && !statuses.every((s) => s === '(external)')).map(([code]) => code);
    assert.deepEqual(unknown, [], 'codes in docs/errors.md that the catalogue lacks');
    const external = [...documented].filter(([code, statuses]) => isErrorCode(code) && statuses.includes('(external)')).map(([code]) => code);
    assert.deepEqual(external, [], 'a code marked (external) must not be in the catalogue');
  });

  test('documented statuses are ones the catalogue allows', () => {
    const wrong: string[] = [];
    for (const [code, cells] of documented) {
      if (!isErrorCode(code)) continue;
      for (const cell of cells)
        for (const m of cell.matchAll(/\b([1-5]\d\d)\b/g))
          if (!statusesOf(code).includes(Number(m[1]))) wrong.push(`${code}: docs say ${m[1]}, catalogue allows ${statusesOf(code).join(', ')}`);
    }
    assert.deepEqual(wrong, []);
  });
});

describe('docs/audit-events.md and src/audit/catalogue.ts', () => {
  const section =
    doc('audit-events.md')
      .split(/^## Catalogue$/m)[1]
      ?.split(/^## /m)[0] ?? '';
  const rows = tableRows(section).map(([type, success, failure]) => ({
    type: /^`([^`]+)`$/.exec(type)?.[1] ?? type,
    success: success.replace(/`/g, ''),
    failure: failure.replace(/`/g, ''),
  }));

  test('the Catalogue section has a table', () => assert.ok(rows.length > 0));

  test('every event type is documented, with its codes', () => {
    const documented = new Map(rows.map((r) => [r.type, { success: r.success, failure: r.failure }]));
    for (const [type, codes] of Object.entries(AUDIT_EVENTS)) assert.deepEqual(documented.get(type), { ...codes }, `docs/audit-events.md row for ${type}`);
  });

  test('every documented type is in the catalogue, once', () => {
    const types = rows.map((r) => r.type);
    assert.deepEqual(
      types.filter((t) => !Object.hasOwn(AUDIT_EVENTS, t)),
      [],
      'documented types the catalogue lacks',
    );
    assert.deepEqual(
      types.filter((t, i) => types.indexOf(t) !== i),
      [],
      'types documented twice',
    );
  });

  test('codes are unique across the catalogue', () => {
    const all = Object.values(AUDIT_EVENTS).flatMap((c) => [c.success, c.failure]);
    assert.deepEqual(
      all.filter((c, i) => all.indexOf(c) !== i),
      [],
    );
  });
});
