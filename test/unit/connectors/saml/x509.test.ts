import assert from 'node:assert/strict';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { describe, it } from 'node:test';
import { generateSpKeyPair } from '../../../../src/connectors/saml/x509.js';

const DAY_MS = 86_400_000;

describe('SAML SP key pair', () => {
  it('is an RSA-2048 key with a self-signed SHA-256 certificate, valid about ten years from an hour ago', async () => {
    const { key, cert } = await generateSpKeyPair('sp.example');
    const privateKey = createPrivateKey(key);
    const x = new X509Certificate(cert);
    assert.equal(privateKey.asymmetricKeyDetails?.modulusLength, 2048);
    assert.equal(x.subject, 'CN=sp.example');
    assert.equal(x.issuer, 'CN=sp.example');
    assert.ok(x.checkPrivateKey(privateKey));
    assert.ok(x.verify(x.publicKey));
    assert.equal(x.ca, false);
    const from = Date.parse(x.validFrom);
    assert.ok(from <= Date.now() - 3_500_000 && from >= Date.now() - 3_700_000, x.validFrom);
    assert.equal(Date.parse(x.validTo) - from, 10 * 365 * DAY_MS);
    // sha256WithRSAEncryption: the OID 1.2.840.113549.1.1.11 in DER, in the signature algorithm
    assert.ok(x.raw.includes(Buffer.from('06092a864886f70d01010b', 'hex')));
  });
});
