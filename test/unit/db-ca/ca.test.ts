// The database CA: one CA per data dir (created once); client certificates chain to it, are for
// client authentication only, carry the identity (read back exactly) and their validity; the
// listener certificate names its hosts; a certificate without the identity is refused.
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { createDbCa } from '../../../src/db-ca/ca.js';
import { identityFromCert } from '../../../src/db-ca/identity.js';

const dir = mkdtempSync(join(tmpdir(), 'gh-db-ca-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const identity = {
  identity: { connector: 'corp', subject: 'corp:alice', username: 'alice', email: 'a@example.com', groups: ['dba'], claims: {} },
  roles: ['dba'],
  database: 'orders-pg',
  users: ['postgres', 'alice'],
  names: ['*'],
};

test('client certificates chain to the CA and carry the identity', async () => {
  const ca = createDbCa({ dataDir: dir });
  const caCert = new X509Certificate(await ca.caPem());
  assert.equal(await createDbCa({ dataDir: dir }).caPem(), caCert.toString(), 'one CA per data dir');
  const notBefore = new Date(Math.floor(Date.now() / 1000) * 1000 - 60_000);
  const notAfter = new Date(notBefore.getTime() + 3_600_000);
  const issued = await ca.issueClient(identity, { notBefore, notAfter });
  const cert = new X509Certificate(issued.cert);
  assert.ok(cert.checkIssued(caCert) && cert.verify(caCert.publicKey));
  assert.deepEqual(cert.keyUsage, ['1.3.6.1.5.5.7.3.2']);
  assert.equal(cert.subject, 'CN=alice');
  assert.equal(new Date(cert.validTo).getTime(), notAfter.getTime() - (notAfter.getTime() % 1000));
  assert.equal(issued.serial, cert.serialNumber.toLowerCase());
  assert.deepEqual(identityFromCert(cert.raw), identity);
});

test('the listener certificate names its hosts; certificates without the identity are refused', async () => {
  const ca = createDbCa({ dataDir: dir });
  const server = await ca.serverCert(['db.example.com', '127.0.0.1'], 1);
  const cert = new X509Certificate(server.cert);
  assert.equal(cert.subjectAltName, 'DNS:db.example.com, IP Address:127.0.0.1');
  assert.throws(
    () => identityFromCert(cert.raw),
    (err: { code?: string }) => err.code === 'cert_invalid',
  );
});
