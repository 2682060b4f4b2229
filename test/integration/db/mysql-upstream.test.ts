// The gateway's own sign-in to MySQL servers, against a small MySQL 8 stand-in on 127.0.0.1 (the
// test MariaDB speaks neither caching_sha2_password nor auth switches on its own): caching_sha2
// fast auth, full auth over plain loopback with the server's RSA key, an auth switch to
// mysql_native_password, full auth over verified TLS (the password in clear, inside TLS), a
// server certificate from another CA refused, and a wrong password refused with the server's error.
import assert from 'node:assert/strict';
import { constants, createHash, generateKeyPairSync, privateDecrypt, randomBytes } from 'node:crypto';
import { createServer, type Server, type Socket } from 'node:net';
import { TLSSocket } from 'node:tls';
import { after, before, describe, test } from 'node:test';
import { UpstreamError } from '../../../src/proxy/db/postgres/upstream.js';
import { CAP } from '../../../src/proxy/db/mysql/handshake.js';
import { handshakeReader } from '../../../src/proxy/db/mysql/packet-reader.js';
import { signInMysql } from '../../../src/proxy/db/mysql/upstream.js';
import { errPacket, okPacket, packet, PayloadReader } from '../../../src/proxy/db/mysql/wire.js';
import { makeTls, type TestTls } from '../../helpers/peers/tls.js';

const PASSWORD = randomBytes(9).toString('base64url');
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest();
const sha1 = (b: Buffer) => createHash('sha1').update(b).digest();
const xor = (a: Buffer, b: Buffer) => Buffer.from(a.map((x, i) => x ^ b[i % b.length]));
const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });

type Mode = 'fast' | 'full' | 'switch' | 'tls';
let tls: TestTls;

/** A MySQL 8 stand-in: greets with caching_sha2_password and checks the gateway's answers the way the server does. */
function standIn(mode: Mode, seen: string[]): Server {
  return createServer(async (raw) => {
    let socket: Socket = raw;
    let reader = handshakeReader(socket, 1 << 16, 'the gateway');
    const nonce = Buffer.from(randomBytes(20).map((b) => (b % 94) + 33));
    const caps =
      CAP.PROTOCOL_41 |
      CAP.SECURE_CONNECTION |
      CAP.PLUGIN_AUTH |
      CAP.PLUGIN_AUTH_LENENC |
      CAP.CONNECT_WITH_DB |
      CAP.LONG_PASSWORD |
      (mode === 'tls' ? CAP.SSL : 0);
    const flags = Buffer.alloc(4);
    flags.writeUInt32LE(caps);
    const id = Buffer.alloc(4);
    id.writeUInt32LE(77);
    socket.write(
      packet(
        0,
        Buffer.concat([
          Buffer.from([10]),
          Buffer.from('8.0.36\0'),
          id,
          nonce.subarray(0, 8),
          Buffer.from([0]),
          flags.subarray(0, 2),
          Buffer.from([255, 2, 0]),
          flags.subarray(2),
          Buffer.from([21]),
          Buffer.alloc(10),
          nonce.subarray(8),
          Buffer.from([0]),
          Buffer.from('caching_sha2_password\0'),
        ]),
      ),
    );
    try {
      if (mode === 'tls') {
        const request = await reader.next();
        assert.equal(request.payload.length, 32, 'an SSLRequest');
        const early = reader.detach(); // the ClientHello may come with the SSLRequest
        if (early.length) raw.unshift(early);
        socket = new TLSSocket(raw, { isServer: true, key: tls.key, cert: tls.cert });
        reader = handshakeReader(socket, 1 << 16, 'the gateway');
      }
      const response = await reader.next();
      const r = new PayloadReader(response.payload);
      r.bytes(32);
      seen.push(`user=${r.nulString()}`);
      const token = r.lenencBytes();
      seen.push(`db=${r.nulString()}`, `plugin=${r.nulString()}`);
      const stage1 = sha256(Buffer.from(PASSWORD));
      const fastOk = token.equals(xor(stage1, sha256(Buffer.concat([sha256(stage1), nonce]))));
      if (mode === 'switch') {
        const fresh = Buffer.from(randomBytes(20).map((b) => (b % 94) + 33));
        socket.write(packet(2, Buffer.concat([Buffer.from([0xfe]), Buffer.from('mysql_native_password\0'), fresh, Buffer.from([0])])));
        const native = (await reader.next()).payload;
        const expected = xor(sha1(Buffer.from(PASSWORD)), sha1(Buffer.concat([fresh, sha1(sha1(Buffer.from(PASSWORD)))])));
        seen.push('switched');
        return void socket.end(native.equals(expected) ? okPacket(4, 2) : errPacket(4, 1045, '28000', 'Access denied (native)'));
      }
      if (mode === 'fast') {
        if (!fastOk) return void socket.end(errPacket(2, 1045, '28000', 'Access denied'));
        socket.write(packet(2, Buffer.from([1, 3])));
        return void socket.end(okPacket(3, 2));
      }
      const seq = mode === 'tls' ? 3 : 2;
      socket.write(packet(seq, Buffer.from([1, 4]))); // perform full authentication
      if (mode === 'tls') {
        const clear = (await reader.next()).payload;
        seen.push('tls');
        return void socket.end(clear.equals(Buffer.from(`${PASSWORD}\0`)) ? okPacket(seq + 2, 2) : errPacket(seq + 2, 1045, '28000', 'Access denied (tls)'));
      }
      const ask = await reader.next();
      assert.deepEqual([...ask.payload], [2], 'the gateway asks for the public key');
      socket.write(packet(4, Buffer.concat([Buffer.from([1]), Buffer.from(publicKey.export({ type: 'spki', format: 'pem' }))])));
      const sealed = (await reader.next()).payload;
      const plain = xor(privateDecrypt({ key: privateKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha1' }, sealed), nonce);
      seen.push('full');
      socket.end(plain.equals(Buffer.from(`${PASSWORD}\0`)) ? okPacket(6, 2) : errPacket(6, 1045, '28000', 'Access denied (full)'));
    } catch {
      socket.destroy();
    }
  });
}

describe('MySQL upstream sign-in: caching_sha2_password and auth switch', () => {
  const servers: Server[] = [];
  const start = async (mode: Mode, seen: string[], ca = tls.ca) => {
    const server = standIn(mode, seen);
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as { port: number }).port;
    return { host: '127.0.0.1', port, loopback: true, ...(mode === 'tls' ? { tls: { ca, serverName: '127.0.0.1' } } : {}) };
  };
  const request = (password: string) => ({
    user: 'app',
    database: 'orders',
    flags: CAP.PROTOCOL_41 | CAP.MULTI_STATEMENTS,
    charset: 45,
    maxPacket: 1 << 24,
    attributes: [['_gatehouse_user', 'alice']] as [string, string][],
    password,
  });
  before(() => {
    tls = makeTls();
  });
  after(async () => {
    for (const s of servers) await new Promise((r) => s.close(r));
  });

  for (const mode of ['fast', 'full', 'switch', 'tls'] as const)
    test(`${mode}: signed in with the configured password`, async () => {
      const seen: string[] = [];
      const up = await signInMysql(await start(mode, seen), request(PASSWORD), 5000);
      assert.equal(up.threadId, 77);
      assert.deepEqual(seen.slice(0, 3), ['user=app', 'db=orders', 'plugin=caching_sha2_password']);
      if (mode !== 'fast') assert.equal(seen[3], { full: 'full', switch: 'switched', tls: 'tls' }[mode]);
      up.socket.destroy();
    });

  test('TLS: a server certificate from another CA is refused before any password is sent', async () => {
    const seen: string[] = [];
    const other = makeTls();
    await assert.rejects(
      signInMysql(await start('tls', seen, other.ca), request(PASSWORD), 5000),
      (err: unknown) => err instanceof UpstreamError && err.kind === 'unreachable' && /TLS to the database failed/.test(err.message),
    );
    assert.deepEqual(seen, []);
  });

  test('a wrong password: refused with the server’s error', async () => {
    const seen: string[] = [];
    await assert.rejects(
      signInMysql(await start('full', seen), request('wrong'), 5000),
      (err: unknown) => err instanceof UpstreamError && err.kind === 'refused' && /Access denied \(full\)/.test(err.message) && err.sqlstate === '28000',
    );
  });
});
