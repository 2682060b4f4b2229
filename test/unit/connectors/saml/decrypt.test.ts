// Our XML-Enc decryption (src/connectors/saml/decrypt.ts) and the key-transport allowlist, on
// messages encrypted here as Keycloak 26 does by default (XML-Enc 1.1 RSA-OAEP with SHA-256 and
// MGF1-SHA256, AES-256-GCM) and as SimpleSAMLphp does (rsa-oaep-mgf1p, AES-128-CBC).
import assert from 'node:assert/strict';
import { constants, createCipheriv, generateKeyPairSync, publicEncrypt, randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import { checkAlgorithms } from '../../../../src/connectors/saml/checks/algorithms.js';
import { decryptAssertion, oaepHash } from '../../../../src/connectors/saml/decrypt.js';
import { GatehouseError } from '../../../../src/core/errors.js';
import { parseXml } from '../../../../src/connectors/saml/xml.js';

const ENC = 'http://www.w3.org/2001/04/xmlenc#';
const ENC11 = 'http://www.w3.org/2009/xmlenc11#';
const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const ASSERTION = '<saml:Assertion xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="a1"><saml:Issuer>idp</saml:Issuer></saml:Assertion>';

interface Scheme {
  keyMethod: string;
  cipher: 'aes-256-gcm' | 'aes-128-cbc';
  oaepHash: string;
}

/** A Response with one EncryptedAssertion; EncryptedKey inside KeyInfo (Keycloak) or beside EncryptedData. */
function encrypt(scheme: Scheme, options: { keyBeside?: boolean } = {}): string {
  const gcm = scheme.cipher === 'aes-256-gcm';
  const cek = randomBytes(gcm ? 32 : 16);
  const iv = randomBytes(gcm ? 12 : 16);
  let data: Buffer;
  if (gcm) {
    const c = createCipheriv('aes-256-gcm', cek, iv);
    data = Buffer.concat([iv, c.update(ASSERTION), c.final(), c.getAuthTag()]);
  } else {
    const c = createCipheriv('aes-128-cbc', cek, iv);
    data = Buffer.concat([iv, c.update(ASSERTION), c.final()]);
  }
  const wrapped = publicEncrypt({ key: publicKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: scheme.oaepHash }, cek);
  const encryptedKey = `<xenc:EncryptedKey><xenc:EncryptionMethod Algorithm="${scheme.keyMethod}">${
    scheme.keyMethod.startsWith(ENC11) ? `<ds:DigestMethod Algorithm="${ENC}sha256"/><xenc11:MGF xmlns:xenc11="${ENC11}" Algorithm="${ENC11}mgf1sha256"/>` : ''
  }</xenc:EncryptionMethod><xenc:CipherData><xenc:CipherValue>${wrapped.toString('base64')}</xenc:CipherValue></xenc:CipherData></xenc:EncryptedKey>`;
  const dataMethod = gcm ? `${ENC11}aes256-gcm` : `${ENC}aes128-cbc`;
  return `<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" xmlns:xenc="${ENC}"><saml:EncryptedAssertion><xenc:EncryptedData Type="${ENC}Element"><xenc:EncryptionMethod Algorithm="${dataMethod}"/>${
    options.keyBeside ? '' : `<ds:KeyInfo>${encryptedKey}</ds:KeyInfo>`
  }<xenc:CipherData><xenc:CipherValue>${data.toString('base64')}</xenc:CipherValue></xenc:CipherData></xenc:EncryptedData>${options.keyBeside ? encryptedKey : ''}</saml:EncryptedAssertion></samlp:Response>`;
}

const KEYCLOAK: Scheme = { keyMethod: `${ENC11}rsa-oaep`, cipher: 'aes-256-gcm', oaepHash: 'sha256' };
const SIMPLESAMLPHP: Scheme = { keyMethod: `${ENC}rsa-oaep-mgf1p`, cipher: 'aes-128-cbc', oaepHash: 'sha1' };

const method = (xml: string) => parseXml(xml).documentElement;

describe('SAML assertion decryption', () => {
  test("Keycloak's default: xmlenc11#rsa-oaep (SHA-256, MGF1-SHA256) and AES-256-GCM", () => {
    assert.equal(decryptAssertion(encrypt(KEYCLOAK), privateKey), ASSERTION);
  });

  test("SimpleSAMLphp's: rsa-oaep-mgf1p and AES-128-CBC, the EncryptedKey in KeyInfo or beside EncryptedData", () => {
    assert.equal(decryptAssertion(encrypt(SIMPLESAMLPHP), privateKey), ASSERTION);
    assert.equal(decryptAssertion(encrypt(SIMPLESAMLPHP, { keyBeside: true }), privateKey), ASSERTION);
  });

  test('a wrong key, a tampered GCM ciphertext or a short content key fail', () => {
    const other = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
    assert.throws(() => decryptAssertion(encrypt(KEYCLOAK), other));
    const tampered = encrypt(KEYCLOAK).replace(/(<xenc:CipherData><xenc:CipherValue>)([A-Za-z0-9+/])/g, (m, p, c, offset) =>
      offset > 500 ? `${p}${c === 'A' ? 'B' : 'A'}` : m,
    );
    assert.throws(() => decryptAssertion(tampered, privateKey));
    const relabelled = encrypt(KEYCLOAK).replace(`${ENC11}aes256-gcm`, `${ENC11}aes128-gcm`);
    assert.throws(() => decryptAssertion(relabelled, privateKey), /wrong length/, 'a 256-bit key for AES-128');
  });

  test('OAEP parameters: MGF1 hash must equal the digest; mgf1p only with SHA-1', () => {
    const m = (alg: string, inner = '') =>
      method(
        `<xenc:EncryptionMethod xmlns:xenc="${ENC}" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" xmlns:xenc11="${ENC11}" Algorithm="${alg}">${inner}</xenc:EncryptionMethod>`,
      );
    assert.equal(oaepHash(m(`${ENC11}rsa-oaep`)), 'sha1', 'defaults: SHA-1 and MGF1-SHA1');
    assert.equal(oaepHash(m(`${ENC11}rsa-oaep`, `<ds:DigestMethod Algorithm="${ENC}sha256"/><xenc11:MGF Algorithm="${ENC11}mgf1sha256"/>`)), 'sha256');
    assert.equal(oaepHash(m(`${ENC11}rsa-oaep`, `<ds:DigestMethod Algorithm="${ENC}sha256"/>`)), undefined, 'SHA-256 with the default MGF1-SHA1');
    assert.equal(oaepHash(m(`${ENC}rsa-oaep-mgf1p`)), 'sha1');
    assert.equal(oaepHash(m(`${ENC}rsa-oaep-mgf1p`, `<ds:DigestMethod Algorithm="${ENC}sha256"/>`)), undefined);
    assert.equal(oaepHash(m(`${ENC}rsa-1_5`)), undefined);
  });

  test('the algorithm check takes Keycloak’s key transport and refuses a mismatched MGF with saml_algorithm_refused', () => {
    const policy = { allowSha1: false, allowRsa15: false };
    checkAlgorithms(method(encrypt(KEYCLOAK)), policy);
    const mismatched = encrypt(KEYCLOAK).replace(`${ENC11}mgf1sha256`, `${ENC11}mgf1sha1`);
    assert.throws(
      () => checkAlgorithms(method(mismatched), policy),
      (err: unknown) => err instanceof GatehouseError && err.code === 'saml_algorithm_refused',
    );
  });
});
