// The servers the runner starts (scripts/test-services.mjs) answer real clients on their URLs.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import pg from 'pg';
import { createClient } from 'redis';
import { runChild } from '../helpers/processes.js';
import { PG_URL, requirePostgres } from '../helpers/peers/postgres.js';
import { MYSQL_URL, REDIS_URL, requireBinary, requireRedis, skipOrFail, tcpReachable } from '../helpers/peers/services.js';

test('Redis answers on GATEHOUSE_TEST_REDIS_URL', async (t) => {
  if (!(await requireRedis(t))) return;
  const client = createClient({ url: REDIS_URL });
  await client.connect();
  try {
    assert.equal(await client.ping(), 'PONG');
  } finally {
    await client.quit();
  }
});

test('PostgreSQL answers on GATEHOUSE_TEST_PG_URL, with the test database', async (t) => {
  if (!(await requirePostgres(t))) return;
  const client = new pg.Client({ connectionString: PG_URL });
  await client.connect();
  try {
    const { rows } = await client.query<{ db: string }>('SELECT current_database() AS db');
    assert.equal(rows[0].db, 'test');
  } finally {
    await client.end();
  }
});

test('MariaDB answers on GATEHOUSE_TEST_MYSQL_URL', async (t) => {
  const url = new URL(MYSQL_URL);
  if (!(await tcpReachable(url.hostname, Number(url.port || 3306)))) return skipOrFail(t, `MariaDB is not reachable at ${url.host}`);
  const client = requireBinary(t, 'mariadb');
  if (!client) return;
  const run = await runChild(client, ['--no-defaults', '-h', url.hostname, '-P', url.port, '-u', url.username, '-N', '-e', 'SELECT VERSION()']);
  assert.equal(run.code, 0, run.stderr);
  assert.match(run.stdout, /MariaDB/);
});
