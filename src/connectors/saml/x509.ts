import { createPublicKey, createSign, generateKeyPairSync, randomBytes, X509Certificate, type KeyObject } from 'node:crypto';

/*
 * A minimal DER writer for one job: a self-signed X.509 v3 certificate (RSA, SHA-256) for our
 * SAML SP key. SAML metadata carries keys as certificates, and Node can parse certificates but
 * not create them; this is the ~40 lines that would otherwise pull in an X.509 library.
 */

const tlv = (tag: number, body: Buffer): Buffer => {
  const len = body.length;
  const header = len < 0x80 ? Buffer.from([tag, len]) : len < 0x100 ? Buffer.from([tag, 0x81, len]) : Buffer.from([tag, 0x82, len >> 8, len & 0xff]);
  return Buffer.concat([header, body]);
};
const seq = (...items: Buffer[]) => tlv(0x30, Buffer.concat(items));
const set = (...items: Buffer[]) => tlv(0x31, Buffer.concat(items));
/** A non-negative DER INTEGER: minimal, so leading zero bytes go and a high bit gets one back (X.690 8.3.2). */
export function derInteger(bytes: Buffer): Buffer {
  let start = 0;
  while (start < bytes.length - 1 && bytes[start] === 0 && !(bytes[start + 1] & 0x80)) start++;
  const minimal = bytes.subarray(start);
  return tlv(0x02, minimal[0] & 0x80 ? Buffer.concat([Buffer.from([0]), minimal]) : minimal);
}
const integer = derInteger;
const nullValue = Buffer.from([0x05, 0x00]);
const utf8 = (text: string) => tlv(0x0c, Buffer.from(text, 'utf8'));
const bitString = (bytes: Buffer) => tlv(0x03, Buffer.concat([Buffer.from([0]), bytes]));

function oid(dotted: string): Buffer {
  const parts = dotted.split('.').map(Number);
  const out = [parts[0] * 40 + parts[1]];
  for (const part of parts.slice(2)) {
    const chunk: number[] = [];
    let value = part;
    do {
      chunk.unshift(value & 0x7f);
      value = Math.floor(value / 128);
    } while (value > 0);
    for (let i = 0; i < chunk.length - 1; i++) chunk[i] |= 0x80;
    out.push(...chunk);
  }
  return tlv(0x06, Buffer.from(out));
}

/** UTCTime until 2049, GeneralizedTime from 2050 (RFC 5280 4.1.2.5). */
function time(date: Date): Buffer {
  const iso = date.toISOString().replace(/[-:T]/g, '').slice(0, 14) + 'Z';
  return date.getUTCFullYear() < 2050 ? tlv(0x17, Buffer.from(iso.slice(2))) : tlv(0x18, Buffer.from(iso));
}

const SHA256_WITH_RSA = seq(oid('1.2.840.113549.1.1.11'), nullValue);
const name = (commonName: string) => seq(set(seq(oid('2.5.4.3'), utf8(commonName))));

/** A self-signed certificate (PEM) for the private `key`, valid from an hour ago for `years`. */
export function selfSignedCertificate(key: KeyObject, options: { commonName: string; years?: number }): string {
  const spki = createPublicKey(key).export({ type: 'spki', format: 'der' });
  const notBefore = new Date(Date.now() - 3_600_000);
  const notAfter = new Date(notBefore.getTime() + (options.years ?? 10) * 365 * 86_400_000);
  const tbs = seq(
    tlv(0xa0, integer(Buffer.from([2]))),
    integer(randomBytes(16)),
    SHA256_WITH_RSA,
    name(options.commonName),
    seq(time(notBefore), time(notAfter)),
    name(options.commonName),
    spki,
  );
  const signature = createSign('sha256').update(tbs).sign(key);
  const der = seq(tbs, SHA256_WITH_RSA, bitString(signature));
  const pem = `-----BEGIN CERTIFICATE-----\n${der.toString('base64').replace(/.{64}/g, '$&\n').replace(/\n$/, '')}\n-----END CERTIFICATE-----\n`;
  new X509Certificate(pem); // parses, or throws: never hand out a broken certificate
  return pem;
}

/** A new RSA-2048 key (PEM, PKCS#8) and its self-signed certificate (PEM). */
export function generateSpKeyPair(commonName: string): { key: string; cert: string } {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { key: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), cert: selfSignedCertificate(privateKey, { commonName }) };
}
