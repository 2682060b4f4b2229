import { oaepHash } from '../decrypt.js';
import { samlError } from '../errors.js';
import { NS, descendants } from '../xml.js';

/*
 * checkAlgorithms enforces an allowlist on every algorithm a message names, before any
 * signature is verified or anything decrypted:
 *   - SignatureMethod: RSA-SHA256/384/512 (RSA-SHA1 only with allow_sha1; HMAC never, since an
 *     HMAC "signature" keyed with a public certificate proves nothing);
 *   - DigestMethod of signature references: SHA-256/384/512 (SHA-1 only with allow_sha1);
 *     the DigestMethod inside an RSA-OAEP EncryptionMethod is OAEP's own hash, not a reference digest;
 *   - CanonicalizationMethod and Transform: exclusive or inclusive C14N without comments, and
 *     enveloped-signature; anything else (XPath, XSLT, WithComments) is refused;
 *   - key transport: RSA-OAEP, as rsa-oaep-mgf1p (SHA-1) or XML-Enc 1.1's rsa-oaep (Keycloak's
 *     default: SHA-256 with MGF1-SHA256) when its MGF1 hash equals its digest (RSA1_5 only with
 *     allow_rsa1_5: it is open to Bleichenbacher padding-oracle attacks); content encryption:
 *     AES-128/256 in CBC or GCM (3DES and anything unknown are refused).
 */

const DS = 'http://www.w3.org/2000/09/xmldsig#';
const MORE = 'http://www.w3.org/2001/04/xmldsig-more#';
const ENC = 'http://www.w3.org/2001/04/xmlenc#';
const ENC11 = 'http://www.w3.org/2009/xmlenc11#';

export const SIGNATURE_ALGORITHMS = [`${MORE}rsa-sha256`, `${MORE}rsa-sha384`, `${MORE}rsa-sha512`];
export const SHA1_SIGNATURE = `${DS}rsa-sha1`;
export const DIGEST_ALGORITHMS = [`${ENC}sha256`, `${MORE}sha384`, `${ENC}sha512`];
export const SHA1_DIGEST = `${DS}sha1`;
export const RSA1_5 = `${ENC}rsa-1_5`;
const TRANSFORMS = ['http://www.w3.org/2001/10/xml-exc-c14n#', 'http://www.w3.org/TR/2001/REC-xml-c14n-20010315', `${DS}enveloped-signature`];
const DATA_ENCRYPTION = [`${ENC}aes128-cbc`, `${ENC}aes256-cbc`, `${ENC11}aes128-gcm`, `${ENC11}aes256-gcm`];

export interface AlgorithmPolicy {
  allowSha1: boolean;
  allowRsa15: boolean;
}

export function checkAlgorithms(root: Element, policy: AlgorithmPolicy): void {
  for (const el of descendants(root)) {
    const algorithm = el.getAttribute('Algorithm') ?? '';
    if (el.namespaceURI === NS.dsig) {
      if (el.localName === 'SignatureMethod') {
        if (!SIGNATURE_ALGORITHMS.includes(algorithm) && !(policy.allowSha1 && algorithm === SHA1_SIGNATURE)) refuse('signature', algorithm);
      } else if (el.localName === 'DigestMethod' && (el.parentNode as Element | null)?.localName === 'Reference') {
        if (!DIGEST_ALGORITHMS.includes(algorithm) && !(policy.allowSha1 && algorithm === SHA1_DIGEST)) refuse('digest', algorithm);
      } else if (el.localName === 'CanonicalizationMethod' || el.localName === 'Transform') {
        if (!TRANSFORMS.includes(algorithm)) refuse('transform', algorithm);
      }
    } else if (el.namespaceURI === NS.xenc && el.localName === 'EncryptionMethod') {
      const parent = (el.parentNode as Element | null)?.localName;
      if (parent === 'EncryptedKey') {
        if (!oaepHash(el) && !(policy.allowRsa15 && algorithm === RSA1_5)) refuse('key transport', algorithm);
      } else if (!DATA_ENCRYPTION.includes(algorithm)) {
        refuse('encryption', algorithm);
      }
    }
  }
}

function refuse(kind: string, algorithm: string): never {
  throw samlError('saml_algorithm_refused', `The SAML message uses a refused ${kind} algorithm.`, { details: { algorithm: algorithm.slice(0, 120) } });
}
