// The servers the runner starts (scripts/test-services.mjs) answer real clients on their URLs, and
// Keycloak (scripts/test-keycloak.mjs) is started for the files that need it, on a Java that can run it.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { createClient } from 'redis';
import { runChild } from '../helpers/processes.js';
import { PG_URL, requirePostgres } from '../helpers/peers/postgres.js';
import { MYSQL_URL, REDIS_URL, requireBinary, requireRedis, skipOrFail, tcpReachable } from '../helpers/peers/services.js';
import { findJavaHome, needsKeycloak } from '../../scripts/test-keycloak.mjs';

const REPO = fileURLToPath(new URL('../..', import.meta.url));

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

test('Keycloak starts only for the files that need it: by name, or by importing its helper', (t) => {
  assert.equal(needsKeycloak(['test/e2e/keycloak-oidc.test.ts']), true);
  assert.equal(needsKeycloak(['test/unit/sessions/upstream.test.ts', 'test/harness/services.test.ts']), false);
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-kc-needs-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'other.test.ts');
  // Spelled in parts, so this file itself does not read as one that needs Keycloak.
  writeFileSync(file, `import { requireKeycloak } from '../helpers/peers/${'keycloak'}.js';\n`);
  assert.equal(needsKeycloak([relative(REPO, file)]), true);
});

test('Keycloak gets a Java 21+: JAVA_HOME when it is one, else the newest under the JVM folder, else a clear error', (t) => {
  const jvm = mkdtempSync(join(tmpdir(), 'gatehouse-jvm-'));
  t.after(() => rmSync(jvm, { recursive: true, force: true }));
  const jdk = (name: string, version: string) => {
    mkdirSync(join(jvm, name, 'bin'), { recursive: true });
    writeFileSync(join(jvm, name, 'bin', 'java'), '');
    writeFileSync(join(jvm, name, 'release'), `JAVA_VERSION="${version}"\n`);
    return join(jvm, name);
  };
  const old = jdk('java-17', '17.0.15');
  const newest = jdk('temurin-25', '25.0.3');
  jdk('java-21', '21.0.2');
  const noJavaOnPath = { PATH: '/nonexistent' };
  assert.equal(findJavaHome({ ...noJavaOnPath, JAVA_HOME: jdk('own-22', '22') }, jvm), join(jvm, 'own-22'));
  assert.equal(findJavaHome({ ...noJavaOnPath, JAVA_HOME: old }, jvm), newest, 'a JAVA_HOME of Java 17 is passed over');
  rmSync(newest, { recursive: true });
  rmSync(join(jvm, 'java-21'), { recursive: true });
  rmSync(join(jvm, 'own-22'), { recursive: true });
  assert.throws(() => findJavaHome({ ...noJavaOnPath, JAVA_HOME: old }, jvm), /Keycloak needs Java 21 or newer.*JAVA_HOME=.*is Java 17.*has Java 17/);
});
