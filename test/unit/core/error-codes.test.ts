/**
 * The error-code catalogue (src/core/error-codes.ts):
 * - GatehouseError takes its status from the catalogue when the caller gives none;
 * - the SAML checks' own status map agrees with it;
 * - every `new GatehouseError('<code>', ..., { status: N })` in src/ passes a status the catalogue
 *   allows for that code.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import ts from 'typescript';
import { SAML_ERRORS } from '../../../src/connectors/saml/errors.js';
import { ERROR_CODES, errorCodeOr, isErrorCode, statusesOf } from '../../../src/core/error-codes.js';
import { GatehouseError } from '../../../src/core/errors.js';

const SRC = new URL('../../../src/', import.meta.url).pathname;
const sources = (dir: string): string[] =>
  readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : []));

describe('error-code catalogue', () => {
  test('GatehouseError defaults to the catalogue status; an explicit one wins', () => {
    assert.equal(new GatehouseError('recording_not_found', 'x').status, 404);
    assert.equal(new GatehouseError('store_unavailable', 'x').status, 503);
    assert.equal(new GatehouseError('store_unavailable', 'x').expose, false);
    assert.equal(new GatehouseError('invalid_request', 'x', { status: 413 }).status, 413);
  });

  test('codes read from an answer: known ones kept, others fall back', () => {
    assert.equal(errorCodeOr('invalid_grant', 'token_error'), 'invalid_grant');
    assert.equal(errorCodeOr('no_such_code', 'token_error'), 'token_error');
    assert.equal(errorCodeOr(undefined, 'server_error'), 'server_error');
    assert.equal(isErrorCode('toString'), false);
  });

  test('the SAML status map agrees with the catalogue', () => {
    for (const [code, status] of Object.entries(SAML_ERRORS)) assert.equal(isErrorCode(code) && ERROR_CODES[code].status, status, code);
  });

  test('literal statuses passed in src/ are allowed for their code', () => {
    const wrong: string[] = [];
    let seen = 0;
    for (const file of sources(SRC)) {
      const sf = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true);
      const visit = (node: ts.Node): void => {
        if (ts.isNewExpression(node) && node.expression.getText(sf) === 'GatehouseError') {
          const [code, , options] = node.arguments ?? [];
          if (code && ts.isStringLiteral(code) && options && ts.isObjectLiteralExpression(options)) {
            for (const p of options.properties) {
              if (!ts.isPropertyAssignment(p) || p.name.getText(sf) !== 'status' || !ts.isNumericLiteral(p.initializer)) continue;
              seen++;
              const status = Number(p.initializer.text);
              if (!isErrorCode(code.text) || !statusesOf(code.text).includes(status)) wrong.push(`${file.slice(SRC.length)}: ${code.text} with ${status}`);
            }
          }
        }
        ts.forEachChild(node, visit);
      };
      visit(sf);
    }
    assert.ok(seen > 20, `found only ${seen} literal statuses`);
    assert.deepEqual(wrong, []);
  });
});
