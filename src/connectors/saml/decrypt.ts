import { constants, createDecipheriv, privateDecrypt, type KeyObject } from 'node:crypto';
import { NS, attr, child, children, parseXml, textOf } from './xml.js';

/*
 * decryptAssertion opens a Response's EncryptedAssertion with our SP key (XML Encryption 1.0/1.1),
 * with Node's crypto only. It exists because Keycloak (21+) encrypts by default with XML-Enc 1.1's
 * RSA-OAEP (xmlenc11#rsa-oaep, SHA-256 digest and MGF1-SHA256) and AES-256-GCM, and samlify's
 * xml-encryption knows only rsa-oaep-mgf1p (SHA-1). It supports:
 *   - key transport: rsa-oaep-mgf1p (OAEP digest SHA-1) and xmlenc11#rsa-oaep (DigestMethod default
 *     SHA-1, MGF default MGF1-SHA1) when the MGF1 hash equals the digest (all OpenSSL offers);
 *     rsa-1_5 (only reached with allow_rsa1_5; Node 20 refuses it anyway, CVE-2023-46809);
 *   - content: AES-128/256 in CBC (XML-Enc padding) or GCM (96-bit IV, 128-bit tag);
 *   - the EncryptedKey inside EncryptedData's KeyInfo, or beside EncryptedData in the EncryptedAssertion.
 * The algorithm allowlist (checks/algorithms.ts) has already refused anything else; every failure
 * here throws and the caller reports saml_decryption_failed.
 */

const ENC = 'http://www.w3.org/2001/04/xmlenc#';
const ENC11 = 'http://www.w3.org/2009/xmlenc11#';
const DS = 'http://www.w3.org/2000/09/xmldsig#';
const MORE = 'http://www.w3.org/2001/04/xmldsig-more#';

/** Digest URIs (as DigestMethod and MGF name them) → Node hash names. */
const HASHES: Record<string, string> = {
  [`${DS}sha1`]: 'sha1',
  [`${MORE}sha224`]: 'sha224',
  [`${ENC}sha256`]: 'sha256',
  [`${MORE}sha384`]: 'sha384',
  [`${ENC}sha512`]: 'sha512',
  [`${ENC11}mgf1sha1`]: 'sha1',
  [`${ENC11}mgf1sha224`]: 'sha224',
  [`${ENC11}mgf1sha256`]: 'sha256',
  [`${ENC11}mgf1sha384`]: 'sha384',
  [`${ENC11}mgf1sha512`]: 'sha512',
};

const CIPHERS: Record<string, { name: string; keyBytes: number; gcm: boolean }> = {
  [`${ENC}aes128-cbc`]: { name: 'aes-128-cbc', keyBytes: 16, gcm: false },
  [`${ENC}aes256-cbc`]: { name: 'aes-256-cbc', keyBytes: 32, gcm: false },
  [`${ENC11}aes128-gcm`]: { name: 'aes-128-gcm', keyBytes: 16, gcm: true },
  [`${ENC11}aes256-gcm`]: { name: 'aes-256-gcm', keyBytes: 32, gcm: true },
};

/**
 * The OAEP hash of an EncryptedKey's EncryptionMethod, or undefined when it is not RSA-OAEP or
 * its parameters are not a pair OpenSSL can do (MGF1 hash ≠ digest, rsa-oaep-mgf1p with a
 * digest other than SHA-1, unknown URIs).
 */
export function oaepHash(method: Element): string | undefined {
  const algorithm = attr(method, 'Algorithm');
  const digestUri = attr(child(method, NS.dsig, 'DigestMethod'), 'Algorithm') ?? `${DS}sha1`;
  const digest = HASHES[digestUri];
  if (algorithm === `${ENC}rsa-oaep-mgf1p`) return digest === 'sha1' ? digest : undefined;
  if (algorithm !== `${ENC11}rsa-oaep`) return undefined;
  const mgf = HASHES[attr(child(method, ENC11, 'MGF'), 'Algorithm') ?? `${ENC11}mgf1sha1`];
  return digest && mgf === digest ? digest : undefined;
}

const base64Of = (el: Element | undefined, what: string): Buffer => {
  const value = textOf(el && child(el, NS.xenc, 'CipherData') && child(child(el, NS.xenc, 'CipherData')!, NS.xenc, 'CipherValue'));
  if (!value) throw new Error(`no CipherValue in the ${what}`);
  return Buffer.from(value.replace(/\s+/g, ''), 'base64');
};

function unwrapKey(encryptedKey: Element, key: KeyObject | string): Buffer {
  const method = child(encryptedKey, NS.xenc, 'EncryptionMethod');
  const algorithm = attr(method, 'Algorithm');
  const wrapped = base64Of(encryptedKey, 'EncryptedKey');
  if (algorithm === `${ENC}rsa-1_5`) return privateDecrypt({ key, padding: constants.RSA_PKCS1_PADDING }, wrapped);
  const hash = method && oaepHash(method);
  if (!hash) throw new Error(`unsupported key transport ${algorithm}`);
  return privateDecrypt({ key, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: hash }, wrapped);
}

function decryptContent(algorithm: string | undefined, cek: Buffer, data: Buffer): Buffer {
  const cipher = algorithm ? CIPHERS[algorithm] : undefined;
  if (!cipher) throw new Error(`unsupported content encryption ${algorithm}`);
  if (cek.length !== cipher.keyBytes) throw new Error('the content key has the wrong length');
  if (cipher.gcm) {
    if (data.length < 12 + 16) throw new Error('the ciphertext is too short');
    const decipher = createDecipheriv(cipher.name as 'aes-256-gcm', cek, data.subarray(0, 12));
    decipher.setAuthTag(data.subarray(data.length - 16));
    return Buffer.concat([decipher.update(data.subarray(12, data.length - 16)), decipher.final()]);
  }
  if (data.length < 32 || data.length % 16 !== 0) throw new Error('the ciphertext has a bad length');
  const decipher = createDecipheriv(cipher.name, cek, data.subarray(0, 16)).setAutoPadding(false);
  const plain = Buffer.concat([decipher.update(data.subarray(16)), decipher.final()]);
  // XML-Enc padding: the last byte says how many bytes to drop; the others are arbitrary.
  const pad = plain[plain.length - 1];
  if (pad < 1 || pad > 16) throw new Error('bad padding');
  return plain.subarray(0, plain.length - pad);
}

/** The plaintext Assertion XML of the one EncryptedAssertion in a Response document. */
export function decryptAssertion(responseXml: string, key: KeyObject | string): string {
  const response = parseXml(responseXml).documentElement;
  const encrypted = children(response, NS.assertion, 'EncryptedAssertion');
  if (encrypted.length !== 1) throw new Error('expected exactly one EncryptedAssertion');
  const data = child(encrypted[0], NS.xenc, 'EncryptedData');
  if (!data) throw new Error('no EncryptedData');
  const keyInfo = child(data, NS.dsig, 'KeyInfo');
  const encryptedKey = (keyInfo && child(keyInfo, NS.xenc, 'EncryptedKey')) ?? child(encrypted[0], NS.xenc, 'EncryptedKey');
  if (!encryptedKey) throw new Error('no EncryptedKey');
  const cek = unwrapKey(encryptedKey, key);
  return decryptContent(attr(child(data, NS.xenc, 'EncryptionMethod'), 'Algorithm'), cek, base64Of(data, 'EncryptedData')).toString('utf8');
}
