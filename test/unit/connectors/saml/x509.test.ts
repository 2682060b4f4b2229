import assert from 'node:assert/strict';
import { generateKeyPairSync, X509Certificate } from 'node:crypto';
import { describe, it } from 'node:test';
import { derInteger, selfSignedCertificate } from '../../../../src/connectors/saml/x509.js';

describe('self-signed SP certificate', () => {
  it('encodes integers minimally, as DER requires (a random serial may start with zero bytes)', () => {
    assert.deepEqual(derInteger(Buffer.from([0x00, 0x01])), Buffer.from([0x02, 0x01, 0x01]));
    assert.deepEqual(derInteger(Buffer.from([0x00, 0x00, 0x7f])), Buffer.from([0x02, 0x01, 0x7f]));
    assert.deepEqual(derInteger(Buffer.from([0x00, 0x80])), Buffer.from([0x02, 0x02, 0x00, 0x80]));
    assert.deepEqual(derInteger(Buffer.from([0x80])), Buffer.from([0x02, 0x02, 0x00, 0x80]));
    assert.deepEqual(derInteger(Buffer.from([0x00])), Buffer.from([0x02, 0x01, 0x00]));
  });

  it('produces a certificate Node parses, for the key it was made for', () => {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const cert = new X509Certificate(selfSignedCertificate(privateKey, { commonName: 'sp.example' }));
    assert.equal(cert.subject, 'CN=sp.example');
    assert.ok(cert.checkPrivateKey(privateKey));
    assert.ok(cert.verify(publicKey));
  });
});
