import assert from 'node:assert/strict';
import { createPrivateKey, generateKeyPairSync, X509Certificate } from 'node:crypto';
import { describe, it } from 'node:test';
import { createSelfSignedCa, issueServerCert, selfSignedCert } from '../../../src/core/x509.js';

const DAY_MS = 86_400_000;
const days = (x: X509Certificate) => (Date.parse(x.validTo) - Date.parse(x.validFrom)) / DAY_MS;

describe('certificates (src/core/x509.ts)', () => {
  it('selfSignedCert: Node parses it, it is for the key, and it signs itself', async () => {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const x = new X509Certificate(await selfSignedCert(privateKey, { commonName: 'self.example', years: 2 }));
    assert.equal(x.subject, 'CN=self.example');
    assert.ok(x.checkPrivateKey(privateKey));
    assert.ok(x.verify(publicKey));
    assert.ok(x.checkIssued(x));
    assert.equal(days(x), 730);
  });

  it('a CA (EC P-256, pathlen 0) issues a server certificate for every DNS name and IP address', async () => {
    const ca = await createSelfSignedCa({ subject: 'O=Test, CN=Test CA', days: 3650 });
    const caCert = new X509Certificate(ca.cert);
    assert.equal(caCert.ca, true);
    assert.equal(caCert.subject, 'O=Test\nCN=Test CA');
    assert.ok(caCert.checkPrivateKey(createPrivateKey(ca.key)));
    assert.equal(createPrivateKey(ca.key).asymmetricKeyDetails?.namedCurve, 'prime256v1');
    assert.ok(caCert.verify(caCert.publicKey));
    assert.equal(days(caCert), 3650);

    const server = await issueServerCert(ca, { subject: 'CN=server', hosts: ['proxy.example', '127.0.0.1', 'localhost', '::1'], days: 397 });
    const x = new X509Certificate(server.cert);
    assert.equal(x.ca, false);
    assert.ok(x.checkPrivateKey(createPrivateKey(server.key)));
    assert.equal(createPrivateKey(server.key).asymmetricKeyDetails?.namedCurve, 'prime256v1');
    assert.ok(x.verify(caCert.publicKey), 'signed by the CA');
    assert.ok(x.checkIssued(caCert), 'names the CA as its issuer');
    assert.equal(x.issuer, caCert.subject);
    assert.equal(x.subjectAltName, 'DNS:proxy.example, IP Address:127.0.0.1, DNS:localhost, IP Address:0:0:0:0:0:0:0:1');
    assert.equal(x.checkHost('proxy.example'), 'proxy.example');
    assert.equal(x.checkIP('127.0.0.1'), '127.0.0.1');
    assert.equal(x.checkHost('other.example'), undefined);
    assert.deepEqual(x.keyUsage, ['1.3.6.1.5.5.7.3.1']); // Node reports the extended key usage: serverAuth only
    assert.equal(days(x), 397);
    assert.ok(Date.parse(x.validFrom) <= Date.now());
  });

  it('a certificate from another CA does not verify against this one', async () => {
    const [ca, other] = await Promise.all([createSelfSignedCa({ subject: 'CN=A', days: 1 }), createSelfSignedCa({ subject: 'CN=B', days: 1 })]);
    const x = new X509Certificate((await issueServerCert(ca, { subject: 'CN=s', hosts: ['a.example'], days: 1 })).cert);
    assert.equal(x.verify(new X509Certificate(other.cert).publicKey), false);
    assert.equal(x.checkIssued(new X509Certificate(other.cert)), false);
  });

  it('refuses a server certificate with no host', async () => {
    const ca = await createSelfSignedCa({ subject: 'CN=A', days: 1 });
    await assert.rejects(issueServerCert(ca, { subject: 'CN=s', hosts: [], days: 1 }), /at least one host/);
  });
});
