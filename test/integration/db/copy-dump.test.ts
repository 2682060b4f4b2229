import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startDbGateway, type DbGateway } from '../../helpers/gateways/db.js';
import { PG_URL, sql } from '../../helpers/peers/postgres.js';
import { runChild } from '../../helpers/processes.js';

/** The 50 MB: about 4 s in and out on a 2-core machine (GATEHOUSE_TEST_COPY_MB changes it). */
const COPY_MB = Number(process.env.GATEHOUSE_TEST_COPY_MB ?? 50);

describe('bulk data through the db listener: \\copy in and out byte-exact, pg_dump equal to a direct dump', () => {
  let g: DbGateway | undefined;
  let dir: string;
  const schema = `db_copy_${process.pid}_${Date.now()}`;
  before(async (t) => {
    dir = mkdtempSync(join(tmpdir(), 'gatehouse-db-copy-'));
    g = await startDbGateway(t as never, { recordings: { dir: join(dir, 'recordings') } });
    if (g) await sql(`CREATE SCHEMA "${schema}"`);
  });
  after(async () => {
    if (g) await sql(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await g?.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  const psql = (conninfo: string, command: string) =>
    runChild('psql', [conninfo, '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-c', command], { timeoutMs: 110_000, env: { ...process.env, PGCONNECT_TIMEOUT: '10' } });
  const sha = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');

  test(`\\copy of ${COPY_MB} MB in and out is byte-exact, and the session counts the bytes`, { timeout: 120_000 }, async () => {
    if (!g) return;
    const c = await g.credentials('alice', ['dba']);
    const input = join(dir, 'in.txt');
    const lines: string[] = [];
    for (let size = 0, i = 0; size < COPY_MB * 1024 * 1024; i++) {
      const line = `${i}\t${randomBytes(600).toString('base64')}`;
      lines.push(line);
      size += line.length + 1;
    }
    writeFileSync(input, `${lines.join('\n')}\n`);
    const conninfo = c.conninfo('postgres', 'test');
    await sql(`CREATE TABLE "${schema}".blob (n int PRIMARY KEY, data text NOT NULL)`);
    const copyIn = await psql(conninfo, `\\copy "${schema}".blob FROM '${input}'`);
    assert.equal(copyIn.code, 0, copyIn.stderr);
    const output = join(dir, 'out.txt');
    const copyOut = await psql(conninfo, `\\copy (SELECT * FROM "${schema}".blob ORDER BY n) TO '${output}'`);
    assert.equal(copyOut.code, 0, copyOut.stderr);
    assert.equal(statSync(output).size, statSync(input).size);
    assert.equal(sha(output), sha(input));
    const ends = await g.gw.waitForEvent(
      (e) => e.type === 'db.session.end' && e.user === 'alice' && (e.details?.bytes_from_server as number) > statSync(input).size,
    );
    assert.ok(ends, 'the COPY out session counted the bytes it sent');
    const copyStatement = g.gw.auditEvents().find((e) => e.type === 'db.query' && String(e.details?.statement).startsWith(`COPY  "${schema}".blob FROM STDIN`));
    assert.ok(copyStatement, 'the COPY statement is audited (its rows are not)');
  });

  test('pg_dump through the gateway equals pg_dump direct', { timeout: 120_000 }, async () => {
    if (!g) return;
    await sql(`CREATE TABLE "${schema}".orders (id serial PRIMARY KEY, item text, qty int, at timestamptz DEFAULT '2024-01-01T00:00:00Z')`);
    await sql(`INSERT INTO "${schema}".orders (item, qty) SELECT 'item-' || g, g FROM generate_series(1, 2000) g`);
    await sql(`CREATE INDEX ON "${schema}".orders (item)`);
    const c = await g.credentials('alice', ['dba']);
    const dump = async (conninfo: string) => {
      // A fixed \restrict key: pg_dump otherwise writes a random one into each dump.
      const r = await runChild('pg_dump', ['--restrict-key=gatehouse', '-n', schema, '-T', `"${schema}".blob`, '-d', conninfo], { timeoutMs: 110_000 });
      assert.equal(r.code, 0, r.stderr);
      return r.stdout;
    };
    const direct = await dump(PG_URL);
    const through = await dump(c.conninfo('postgres', 'test'));
    assert.ok(direct.includes('item-2000'));
    assert.equal(through, direct);
  });
});
