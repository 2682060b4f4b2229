import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError, parseConfig } from '../../../src/config/load.js';

const base = { server: { public_url: 'http://127.0.0.1:8080' }, connectors: [{ type: 'demo' }] };

test('audit config: defaults, postgres with retention, and every problem reported', () => {
  assert.deepEqual(parseConfig(base).audit, { backend: 'file', postgres_schema: 'public', on_failure: 'refuse', retention_ms: undefined });
  const pg = parseConfig(
    { ...base, audit: { backend: 'postgres', postgres_url: '${PG}', retention: '30d', on_failure: 'log' } },
    { env: { PG: 'postgres://gh@db:5432/gatehouse' } },
  ).audit;
  assert.equal(pg.backend, 'postgres');
  assert.equal(pg.postgres_url, 'postgres://gh@db:5432/gatehouse');
  assert.equal(pg.retention_ms, 30 * 86_400_000);
  assert.equal(pg.on_failure, 'log');
  assert.throws(
    () => parseConfig({ ...base, audit: { backend: 'postgres', postgres_schema: 'Bad-Name', on_failure: 'ignore', retention: 'forever' } }),
    (err: ConfigError) => {
      const text = err.problems.join('\n');
      assert.match(text, /audit\.postgres_schema/);
      assert.match(text, /audit\.on_failure/);
      assert.match(text, /audit\.retention/);
      return true;
    },
  );
  assert.throws(() => parseConfig({ ...base, audit: { backend: 'postgres' } }), /audit\.postgres_url: postgres_url is required/);
  assert.throws(() => parseConfig({ ...base, audit: { backend: 'postgres', postgres_url: 'mysql://x' } }), /audit\.postgres_url/);
});
