import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { after, before, describe, test } from 'node:test';
import { serialize } from 'pg-protocol';
import { Parser } from 'pg-protocol/dist/parser.js';
import type { BackendMessage } from 'pg-protocol/dist/messages.js';
import { startDbGateway, type DbCredentials, type DbGateway } from '../../helpers/gateways/db.js';

/*
 * PostgreSQL 17's `sslnegotiation=direct`: TLS from the first byte, with ALPN "postgresql", and
 * no SSLRequest round trip. Debian 12 ships libpq 15, so the client here is a TLS socket that
 * does what libpq 17 does, with pg-protocol's own message writer and parser.
 */

/** Connects with direct TLS, sends `first` messages and collects the server's messages until one matches `until` or the connection closes. */
async function directSession(
  port: number,
  c: DbCredentials,
  alpn: string[] | undefined,
  first: Buffer[],
  until: (m: BackendMessage) => boolean,
): Promise<{ tls: TLSSocket; messages: BackendMessage[] }> {
  const tls = tlsConnect({
    host: '127.0.0.1',
    port,
    servername: 'localhost',
    ca: readFileSync(c.ca),
    cert: readFileSync(c.cert),
    key: readFileSync(c.key),
    ...(alpn ? { ALPNProtocols: alpn } : {}),
  });
  const messages: BackendMessage[] = [];
  const parser = new Parser();
  await new Promise<void>((resolve) => {
    tls.on('data', (chunk: Buffer) =>
      parser.parse(chunk, (m) => {
        messages.push(m);
        if (until(m)) resolve();
      }),
    );
    tls.once('secureConnect', () => first.forEach((b) => tls.write(b)));
    tls.on('error', () => resolve());
    tls.on('close', () => resolve());
  });
  return { tls, messages };
}

const isReady = (m: BackendMessage) => m.name === 'readyForQuery';

describe('PostgreSQL 17 direct TLS (sslnegotiation=direct) on the db listener', () => {
  let g: DbGateway | undefined;
  let alice: DbCredentials;
  before(async (t) => {
    g = await startDbGateway(t as never);
    if (g) alice = await g.credentials('alice', ['dba']);
  });
  after(async () => await g?.stop());

  test('TLS from the first byte with ALPN "postgresql": signed in, queried and audited like an SSLRequest session', async () => {
    if (!g) return;
    const { tls, messages } = await directSession(g.port, alice, ['postgresql'], [serialize.startup({ user: 'postgres', database: 'test' })], isReady);
    assert.equal(tls.alpnProtocol, 'postgresql');
    assert.ok(messages.some((m) => m.name === 'authenticationOk'));
    assert.ok(messages.some(isReady), JSON.stringify(messages.map((m) => m.name)));
    const rows: unknown[] = [];
    const parser = new Parser();
    await new Promise<void>((resolve) => {
      tls.on('data', (chunk: Buffer) =>
        parser.parse(chunk, (m) => {
          if (m.name === 'dataRow') rows.push((m as unknown as { fields: unknown[] }).fields);
          if (isReady(m)) resolve();
        }),
      );
      tls.write(serialize.query("SELECT 'direct tls'"));
    });
    assert.deepEqual(rows, [['direct tls']]);
    const query = await g.gw.waitForEvent((e) => e.type === 'db.query' && e.details?.statement === "SELECT 'direct tls'");
    assert.equal(query.user, 'alice');
    tls.end(serialize.end());
  });

  test('direct TLS without the ALPN protocol is refused (08P01) and audited, as PostgreSQL 17 does', async () => {
    if (!g) return;
    for (const alpn of [undefined, ['http/1.1', 'postgresql-not']]) {
      const { messages } = await directSession(g.port, alice, alpn, [serialize.startup({ user: 'postgres', database: 'test' })], (m) => m.name === 'error');
      const error = messages.find((m) => m.name === 'error') as (BackendMessage & { code?: string; message?: string }) | undefined;
      if (alpn === undefined) {
        // No ALPN at all: the handshake succeeds, then the gateway refuses inside TLS with the reason.
        assert.equal(error?.code, '08P01');
        assert.match(error?.message ?? '', /direct TLS needs the ALPN protocol "postgresql"/);
      } else assert.equal(error, undefined, 'an ALPN mismatch ends the TLS handshake itself');
    }
    const event = await g.gw.waitForEvent(
      (e) => e.type === 'db.session.start' && e.outcome === 'failure' && String(e.details?.error).includes('ALPN protocol "postgresql"'),
    );
    assert.equal(event.reason, 'db_protocol_error');
    assert.equal(event.details?.stage, 'startup');
  });
});
