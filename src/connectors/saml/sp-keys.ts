import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { join } from 'node:path';
import { generateSpKeyPair } from './x509.js';

export interface SpKeyPair {
  /** PEM private key (PKCS#8), used to sign AuthnRequests/LogoutRequests and to decrypt assertions. */
  key: string;
  /** PEM certificate published in our SP metadata. */
  cert: string;
}

/**
 * The SP key pair: from the configured files, or generated at first start and kept (0600) in
 * `<data_dir>/saml/`. Replicas must share it: configure the files, or share data_dir.
 */
export async function loadSpKeyPair(options: { keyFile?: string; certFile?: string; dataDir: string }): Promise<SpKeyPair> {
  if (options.keyFile && options.certFile) return checked(readFileSync(options.keyFile, 'utf8'), readFileSync(options.certFile, 'utf8'));
  const dir = join(options.dataDir, 'saml');
  const keyPath = join(dir, 'sp-key.pem');
  const certPath = join(dir, 'sp-cert.pem');
  if (existsSync(keyPath) && existsSync(certPath)) return checked(readFileSync(keyPath, 'utf8'), readFileSync(certPath, 'utf8'));
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const pair = await generateSpKeyPair('gatehouse-saml-sp');
  writeFileSync(keyPath, pair.key, { mode: 0o600, flag: 'wx' });
  chmodSync(keyPath, 0o600);
  writeFileSync(certPath, pair.cert, { mode: 0o644 });
  return pair;
}

function checked(key: string, cert: string): SpKeyPair {
  if (!new X509Certificate(cert).checkPrivateKey(createPrivateKey(key))) throw new Error('the SAML SP certificate does not match its key');
  return { key, cert };
}
