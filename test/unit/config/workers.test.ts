/**
 * server.workers (src/config/schema.ts, src/cli/workers.ts):
 * - a count or `auto` (the default); anything else is refused at server.workers;
 * - a count > 1 needs state.redis_url and the postgres audit backend, each problem reported once;
 * - auto is one per core with Redis and PostgreSQL, else 1; cores are capped by the cgroup's quota;
 * - each worker but the first has its own audit spool under the configured one, and no retention job.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ConfigError, parseConfig } from '../../../src/config/load.js';
import { cpuCores, workerConfig, workerCount } from '../../../src/cli/workers.js';

const REDIS = { redis_url: 'redis://127.0.0.1:6379', data_dir: '/var/lib/gatehouse' };
const POSTGRES = { backend: 'postgres', postgres_url: 'postgres://gatehouse@127.0.0.1/audit', retention: '30d' };

const tree = (server: Record<string, unknown> = {}, extra: Record<string, unknown> = {}) => ({
  server: { public_url: 'http://127.0.0.1:8080', ...server },
  connectors: [{ type: 'oidc', id: 'corp', issuer: 'https://idp.example.com', client_id: 'gatehouse', client_secret: 'unused' }], // secret-scan: allow
  ...extra,
});

const problemsOf = (raw: unknown): string[] => {
  try {
    parseConfig(raw, { env: {} });
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  return [];
};

describe('server.workers', () => {
  test('defaults to auto; takes a count or auto', () => {
    assert.equal(parseConfig(tree(), { env: {} }).server.workers, 'auto');
    assert.equal(parseConfig(tree({ workers: 1 }), { env: {} }).server.workers, 1);
    assert.equal(parseConfig(tree({ workers: 4 }, { state: REDIS, audit: POSTGRES }), { env: {} }).server.workers, 4);
  });

  test('refuses what is not a count of at least 1 or auto, at server.workers', () => {
    for (const workers of [0, -1, 1.5, 'many', '2', 1000]) {
      const problems = problemsOf(tree({ workers }, { state: REDIS, audit: POSTGRES }));
      assert.equal(problems.length, 1, `${workers}: ${problems.join('; ')}`);
      assert.match(problems[0], /^server\.workers: /);
    }
  });

  test('more than one worker needs Redis and the postgres audit backend', () => {
    assert.deepEqual(problemsOf(tree({ workers: 2 }, { state: REDIS, audit: POSTGRES })), []);
    const both = problemsOf(tree({ workers: 2 }));
    assert.equal(both.length, 2, both.join('; '));
    assert.match(both.join('\n'), /server\.workers: 2 workers need state\.redis_url: with the in-memory store each worker would keep its own sessions/);
    assert.match(
      both.join('\n'),
      /server\.workers: 2 workers need audit\.backend: postgres: the file backend keeps one hash chain in one file and allows one writer/,
    );
    assert.deepEqual(
      problemsOf(tree({ workers: 3 }, { state: REDIS })).map((p) => p.split(':')[0]),
      ['server.workers'],
    );
    assert.match(problemsOf(tree({ workers: 3 }, { audit: POSTGRES }))[0], /state\.redis_url/);
    // One worker, or auto, is fine with any state.
    assert.deepEqual(problemsOf(tree({ workers: 1 })), []);
    assert.deepEqual(problemsOf(tree({ workers: 'auto' })), []);
  });

  test('auto: one per core with Redis and PostgreSQL, else 1; a count is taken as given', () => {
    const count = (server: Record<string, unknown>, extra: Record<string, unknown> = {}) => workerCount(parseConfig(tree(server, extra), { env: {} }), 8);
    assert.equal(count({}, { state: REDIS, audit: POSTGRES }), 8);
    assert.equal(count({ workers: 'auto' }, { state: REDIS, audit: POSTGRES }), 8);
    assert.equal(count({}, { state: REDIS }), 1, 'the file audit log has one writer');
    assert.equal(count({}, { audit: POSTGRES }), 1, 'the in-memory store is per process');
    assert.equal(count({}), 1);
    assert.equal(count({ workers: 3 }, { state: REDIS, audit: POSTGRES }), 3);
    assert.equal(count({ workers: 1 }, { state: REDIS, audit: POSTGRES }), 1);
  });

  test('cores: the scheduler’s count, capped by a cgroup CPU quota', () => {
    assert.equal(cpuCores(8, undefined), 8);
    assert.equal(cpuCores(8, 'max 100000\n'), 8);
    assert.equal(cpuCores(8, '200000 100000\n'), 2);
    assert.equal(cpuCores(8, '150000 100000'), 2, 'a part of a core rounds up');
    assert.equal(cpuCores(8, '50000 100000'), 1);
    assert.equal(cpuCores(2, '400000 100000'), 2);
    assert.equal(cpuCores(4, '-1 100000'), 4, 'cgroup v1: no quota');
    assert.equal(cpuCores(1, 'garbage'), 1);
  });

  test('each worker but the first gets its own audit spool and no retention job', () => {
    const config = parseConfig(tree({ workers: 2 }, { state: REDIS, audit: POSTGRES }), { env: {} });
    assert.equal(workerConfig(config, 0), config, 'worker 0 keeps the configured spool and runs retention');
    const second = workerConfig(config, 1);
    assert.equal(second.audit.spool_dir, '/var/lib/gatehouse/audit-spool/worker-1');
    assert.equal(second.audit.retention_ms, undefined);
    assert.equal(config.audit.retention_ms, 30 * 86_400_000, 'the config itself is unchanged');
    const spooled = parseConfig(tree({ workers: 2 }, { state: REDIS, audit: { ...POSTGRES, spool_dir: '/spool' } }), { env: {} });
    assert.equal(workerConfig(spooled, 3).audit.spool_dir, '/spool/worker-3');
  });
});
