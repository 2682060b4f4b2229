import { generateKeyPairSync } from 'node:crypto';
import { selfSignedCert } from '../../core/x509.js';

/** A new RSA-2048 key (PEM, PKCS#8) and its self-signed SHA-256 certificate (PEM), valid ten years from an hour ago. */
export async function generateSpKeyPair(commonName: string): Promise<{ key: string; cert: string }> {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { key: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), cert: await selfSignedCert(privateKey, { commonName, years: 10 }) };
}
