import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect as tcpConnect, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { createDbCa } from '../../../src/db-ca/ca.js';
import type { AuditEvent } from '../../../src/audit/sink.js';
import { startDbGateway, sharedPgDatabase, type DbCredentials, type DbGateway } from '../../helpers/gateways/db.js';
import { PG_URL } from '../../helpers/peers/postgres.js';
import { runChild } from '../../helpers/processes.js';

/** A TCP relay in front of the shared PostgreSQL that counts the connections the gateway opens. */
async function countingRelay(): Promise<{ port: number; count(): number; close(): Promise<void> }> {
  const target = new URL(PG_URL);
  let n = 0;
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    n++;
    const upstream = tcpConnect({ host: '127.0.0.1', port: Number(target.port || 5432) });
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => (client.destroy(), upstream.destroy()));
    }
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as { port: number }).port,
    count: () => n,
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise((r) => server.close(r));
    },
  };
}

const int32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeInt32BE(n);
  return b;
};
const SSL_REQUEST = Buffer.concat([int32(8), int32(80877103)]);

/** Writes `bytes` on a fresh connection to the listener and collects what comes back until it closes. */
function rawExchange(port: number, bytes: Buffer): Promise<Buffer> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const s = tcpConnect({ host: '127.0.0.1', port }, () => s.write(bytes));
    s.on('data', (d: Buffer) => chunks.push(d));
    s.on('error', () => {});
    s.on('close', () => resolve(Buffer.concat(chunks)));
  });
}

describe('db listener refusals: the client gets its protocol error, the audit a failed db.session.start, the database no connection', () => {
  let g: DbGateway | undefined;
  let relay: Awaited<ReturnType<typeof countingRelay>>;
  let dir: string;
  before(async (t) => {
    dir = mkdtempSync(join(tmpdir(), 'gatehouse-db-refusals-'));
    relay = await countingRelay();
    g = await startDbGateway(t as never, {
      databases: [sharedPgDatabase('main-pg', { address: `127.0.0.1:${relay.port}` })],
      db: { startup_timeout: '1s' },
    });
  });
  after(async () => {
    await g?.stop();
    await relay?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const psql = (conninfo: string) =>
    runChild('psql', [conninfo, '-X', '-A', '-t', '-c', 'SELECT 1'], { timeoutMs: 30_000, env: { ...process.env, PGCONNECT_TIMEOUT: '10' } });
  /** The failed start this refusal wrote (the newest with that reason), after checking no connection reached the database. */
  const refused = async (reason: string, before: number): Promise<AuditEvent> => {
    const event = await g!.gw.waitForEvent((e) => e.type === 'db.session.start' && e.outcome === 'failure' && e.reason === reason);
    assert.equal(relay.count(), before, 'no connection to the database');
    return event;
  };

  test('a db user or db name the roles do not allow: 403 from the API, 28000 from the listener', async () => {
    if (!g) return;
    const token = await g.token('bob', ['dev']);
    const api = await g.requestCert(token, { database: 'main-pg', db_user: 'postgres' });
    assert.equal(api.status, 403);
    assert.equal(api.body.error, 'db_user_not_allowed');
    await g.gw.waitForEvent((e) => e.type === 'db.cert.issued' && e.outcome === 'failure' && e.reason === 'db_user_not_allowed' && e.user === 'bob');
    const name = await g.requestCert(token, { database: 'main-pg', db_name: 'postgres' });
    assert.equal(name.status, 403);
    assert.equal(name.body.error, 'db_name_not_allowed');
    assert.equal((await g.requestCert(token, { database: 'no-such-db' })).status, 404);

    const c = await g.credentials('bob', ['dev']);
    const before = relay.count();
    const asPostgres = await psql(c.conninfo('postgres', 'test'));
    assert.notEqual(asPostgres.code, 0);
    assert.match(asPostgres.stderr, /FATAL: {2}gatehouse: You may not sign in to "main-pg" as db user "postgres" \(allowed: bob\)/);
    const event = await refused('db_user_not_allowed', before);
    assert.equal(event.user, 'bob');
    assert.deepEqual(event.roles, ['dev']);
    assert.equal(event.details?.db_user, 'postgres');
    const otherName = await psql(c.conninfo('bob', 'postgres'));
    assert.match(otherName.stderr, /may not open db name "postgres"/);
    await refused('db_name_not_allowed', before);
  });

  test('an expired certificate, one from another CA, and none at all', async () => {
    if (!g) return;
    const good = await g.credentials('alice', ['dba']);
    const write = (name: string, issued: { key: string; cert: string }): DbCredentials => {
      writeFileSync(join(dir, `${name}.crt`), issued.cert);
      writeFileSync(join(dir, `${name}.key`), issued.key, { mode: 0o600 });
      return {
        ...good,
        cert: join(dir, `${name}.crt`),
        key: join(dir, `${name}.key`),
        conninfo: (u, d) =>
          good
            .conninfo(u, d)
            .replace(good.cert, join(dir, `${name}.crt`))
            .replace(good.key, join(dir, `${name}.key`)),
      };
    };
    const identity = {
      identity: { connector: 'corp', subject: 'corp:alice', username: 'alice', groups: ['dba'], claims: {} },
      roles: ['dba'],
      database: 'main-pg',
      users: ['postgres'],
      names: ['*'],
    };
    const before = relay.count();
    // The gateway's own CA (file persistence under its data dir), but long expired.
    const expired = await createDbCa({ dataDir: g.gw.dataDir }).issueClient(identity, {
      notBefore: new Date(Date.now() - 7_200_000),
      notAfter: new Date(Date.now() - 3_600_000),
    });
    const e = await psql(write('expired', expired).conninfo('postgres', 'test'));
    assert.match(e.stderr, /certificate has expired/);
    assert.equal((await refused('cert_expired', before)).user, 'alice');

    const foreign = await createDbCa({ dataDir: mkdtempSync(join(dir, 'other-ca-')) }).issueClient(identity, {
      notBefore: new Date(Date.now() - 60_000),
      notAfter: new Date(Date.now() + 3_600_000),
    });
    const f = await psql(write('foreign', foreign).conninfo('postgres', 'test'));
    assert.match(f.stderr, /not issued by this gateway's database CA/);
    const untrusted = await refused('cert_untrusted', before);
    assert.equal(untrusted.user, undefined, 'an untrusted certificate names nobody');

    const none = await psql(good.conninfo('postgres', 'test').replace(`sslcert=${good.cert}`, `sslcert=${join(dir, 'missing.crt')}`));
    assert.match(none.stderr, /needs a client certificate/);
    await refused('db_cert_required', before);
  });

  test('plain text, an SSLRequest answered then abandoned or left hanging, a 100 MB startup packet, garbage', async () => {
    if (!g) return;
    const before = relay.count();
    const plain = await psql(`host=127.0.0.1 port=${g.port} user=postgres dbname=test sslmode=disable gssencmode=disable`);
    assert.match(plain.stderr, /accepts TLS connections only/);
    await refused('db_tls_required', before);

    // SSLRequest answered 'S', then the client leaves without a handshake.
    const abandoned = await new Promise<Buffer>((resolve) => {
      const s = tcpConnect({ host: '127.0.0.1', port: g!.port }, () => s.write(SSL_REQUEST));
      s.once('data', (d: Buffer) => (s.destroy(), resolve(d)));
    });
    assert.equal(abandoned.toString(), 'S');
    const gone = await refused('db_protocol_error', before);
    assert.equal(gone.details?.stage, 'tls');
    // ...or stays without one: the gateway closes it at db.startup_timeout.
    const hanging = await rawExchange(g.port, SSL_REQUEST);
    assert.equal(hanging.toString(), 'S');
    await refused('db_startup_timeout', before);

    // A length of 100 MB is refused from its first four bytes; nothing that size is read or kept.
    const huge = await rawExchange(g.port, Buffer.concat([int32(100 * 1024 * 1024), int32(196608), Buffer.alloc(1024, 0x61)]));
    assert.equal(huge[0], 0x45); // ErrorResponse
    assert.match(huge.toString('latin1'), /C08P01\0Mgatehouse: invalid startup packet length 104857600/);
    await g.gw.waitForEvent((e) => e.reason === 'db_protocol_error' && String(e.details?.error).includes('104857600'));

    const garbage = await rawExchange(g.port, Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
    assert.match(garbage.toString('latin1'), /invalid startup packet length/);
    const inside = await rawExchange(g.port, Buffer.concat([SSL_REQUEST, Buffer.from('not TLS at all')]));
    assert.match(inside.toString('latin1'), /bytes after SSLRequest/);
    assert.equal(relay.count(), before);
  });

  test("a cancel request with another session's key, or a wrong secret, is refused and audited; the query goes on", async () => {
    if (!g) return;
    const alice = await g.credentials('alice', ['dba']);
    const bob = await g.credentials('bob', ['dev']);
    const client = new pg.Client({
      host: '127.0.0.1',
      port: g.port,
      user: 'postgres',
      database: 'test',
      ssl: { ca: readFileSync(alice.ca, 'utf8'), cert: readFileSync(alice.cert, 'utf8'), key: readFileSync(alice.key, 'utf8') },
    });
    await client.connect();
    const { processID, secretKey } = client as unknown as { processID: number; secretKey: number };
    const [{ pid }] = (await client.query('SELECT pg_backend_pid() AS pid')).rows as { pid: number }[];
    assert.notEqual(processID, pid, "the client holds the gateway's key, not the server's");
    const before = relay.count();
    const running = client.query('SELECT pg_sleep(2) AS slept');
    const cancelPacket = (p: number, s: number) => Buffer.concat([int32(16), int32(80877102), int32(p), int32(s)]);

    // Bob's certificate, inside TLS, with Alice's key.
    await new Promise<void>((resolve) => {
      const raw = tcpConnect({ host: '127.0.0.1', port: g!.port }, () => raw.write(SSL_REQUEST));
      raw.once('data', () => {
        const tls = tlsConnect(
          { socket: raw, ca: readFileSync(bob.ca), cert: readFileSync(bob.cert), key: readFileSync(bob.key), servername: 'localhost' },
          () => tls.write(cancelPacket(processID, secretKey)),
        );
        tls.on('error', () => {});
        tls.on('close', () => resolve());
      });
    });
    const forged = await g.gw.waitForEvent(
      (e) => e.type === 'db.cancel' && e.outcome === 'failure' && e.details?.error === 'the key is for another person’s session',
    );
    assert.equal(forged.reason, 'db_cancel_refused');
    // Plaintext (as libpq sends it), the right process id and a wrong secret.
    await rawExchange(g.port, cancelPacket(processID, secretKey ^ 1));
    await g.gw.waitForEvent((e) => e.type === 'db.cancel' && e.details?.error === 'wrong secret for the process id');
    // The server's own key is no key at the gateway.
    await rawExchange(g.port, cancelPacket(pid, secretKey));
    await g.gw.waitForEvent((e) => e.type === 'db.cancel' && e.details?.error === 'no session has this key');
    assert.deepEqual((await running).rows, [{ slept: '' }]);
    assert.equal(relay.count(), before, 'no refused cancel reached the database');
    await client.end();
  });
});
