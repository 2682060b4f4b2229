import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { GATEWAY_AUDIENCE } from '../../../src/tokens/gateway-token.js';
import { DB_POLICY, sharedPgDatabase } from '../../helpers/gateways/db.js';
import { startGateway, type TestGateway } from '../../helpers/gateways/gateway.js';
import { eventually } from '../../helpers/eventually.js';
import { requirePostgres, sql } from '../../helpers/peers/postgres.js';
import { closedPort, REDIS_URL, requireRedis } from '../../helpers/peers/services.js';

/** Two replicas sharing Redis: one database CA, and cancel keys any replica can route. */
describe('db listener replicas on one Redis accept each other’s certificates and cancel each other’s sessions', () => {
  let a: TestGateway | undefined;
  let b: TestGateway | undefined;
  let dir: string;
  before(async (t) => {
    if (!(await requireRedis(t as never)) || !(await requirePostgres(t as never))) return;
    dir = mkdtempSync(join(tmpdir(), 'gh-db-replicas-'));
    const [portA, portB, dbA, dbB] = await Promise.all([closedPort(), closedPort(), closedPort(), closedPort()]);
    const common = {
      ...DB_POLICY,
      databases: [sharedPgDatabase()],
      server: { public_url: `http://127.0.0.1:${portA}` },
      state: { redis_url: REDIS_URL, redis_prefix: `gh-db-replicas-${randomBytes(6).toString('hex')}:` },
      recordings: { dir: join(dir, 'recordings') },
    };
    // Started together, as a rollout of two pods might: both must settle on one CA.
    [a, b] = await Promise.all([
      startGateway({ ...common, db: { listen: `127.0.0.1:${dbA}` } }, { port: portA }),
      startGateway({ ...common, db: { listen: `127.0.0.1:${dbB}` } }, { port: portB }),
    ]);
    await Promise.all([a, b].map((g) => g.gateway.db!.ready()));
  });
  after(async () => {
    await b?.stop();
    await a?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('a certificate from replica A opens a session at replica B; a cancel sent to A stops it', async () => {
    if (!a || !b) return;
    const token = await a.gateway.issuer.mint({
      subject: 'corp:alice',
      audience: GATEWAY_AUDIENCE,
      claims: { preferred_username: 'alice', groups: ['dba'], connector: 'corp' },
    });
    const res = await fetch(`${a.gateway.url()}/api/v1/db/certs`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ database: 'main-pg', db_user: 'postgres' }),
    });
    assert.equal(res.status, 201);
    const issued = (await res.json()) as { certificate: string; key: string; ca: string };
    const connect = (port: number) =>
      new pg.Client({ host: '127.0.0.1', port, user: 'postgres', database: 'test', ssl: { ca: issued.ca, cert: issued.certificate, key: issued.key } });
    const viaB = connect(b.gateway.db!.address().port);
    await viaB.connect();
    try {
      assert.deepEqual((await viaB.query('SELECT 40 + 2 AS answer')).rows, [{ answer: 42 }]);
      // The key replica B handed out, sent to replica A (as a balancer might route the cancel connection).
      const { processID, secretKey } = viaB as unknown as { processID: number; secretKey: number };
      const sleeping = viaB.query('SELECT pg_sleep(60)').then(
        () => 'finished',
        (err: Error) => err.message,
      );
      await eventually(async () => (await sql("SELECT 1 FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(60)' AND state = 'active'")).length > 0, {
        timeoutMs: 20_000,
        message: 'the sleep runs on the server',
      });
      await cancelVia(a.gateway.db!.address().port, processID, secretKey);
      assert.match(await sleeping, /canceling statement due to user request/);
      await a.waitForEvent((e) => e.type === 'db.cancel' && e.outcome === 'success');
    } finally {
      await viaB.end();
    }
  });
});

/** A plaintext CancelRequest, as libpq sends one. */
async function cancelVia(port: number, pid: number, secret: number): Promise<void> {
  const { connect } = await import('node:net');
  const packet = Buffer.alloc(16);
  packet.writeInt32BE(16, 0);
  packet.writeInt32BE(80877102, 4);
  packet.writeInt32BE(pid, 8);
  packet.writeInt32BE(secret, 12);
  await new Promise<void>((resolve) => {
    const s = connect({ host: '127.0.0.1', port }, () => s.end(packet));
    s.on('error', () => resolve());
    s.on('close', () => resolve());
  });
}
