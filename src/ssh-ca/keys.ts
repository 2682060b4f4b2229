import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes, sign, verify, type KeyObject } from 'node:crypto';
import { GatehouseError } from '../core/errors.js';
import { mpint, sshString, u32, WireReader } from './wire.js';

/** An SSH public key: its algorithm name and wire blob (`string type` + fields). */
export interface SshPublicKey {
  type: string;
  blob: Buffer;
}

const ED25519 = 'ssh-ed25519';
const CURVES: Record<string, { crv: string; size: number; hash: string }> = {
  'ecdsa-sha2-nistp256': { crv: 'P-256', size: 32, hash: 'sha256' },
  'ecdsa-sha2-nistp384': { crv: 'P-384', size: 48, hash: 'sha384' },
  'ecdsa-sha2-nistp521': { crv: 'P-521', size: 66, hash: 'sha512' },
};
/** Key types we sign certificates for. */
export const SUBJECT_KEY_TYPES = [ED25519, 'ssh-rsa', ...Object.keys(CURVES)];

export const generateEd25519 = (): KeyObject => generateKeyPairSync('ed25519').privateKey;

const b64url = (s: string | undefined): Buffer => Buffer.from(s ?? '', 'base64url');

/** The SSH public key blob of an ed25519 (or any supported) node key object. */
export function publicKeyOf(key: KeyObject): SshPublicKey {
  const jwk = (key.type === 'private' ? createPublicKey(key) : key).export({ format: 'jwk' });
  if (jwk.kty === 'OKP' && jwk.crv === 'Ed25519') return { type: ED25519, blob: Buffer.concat([sshString(ED25519), sshString(b64url(jwk.x))]) };
  if (jwk.kty === 'RSA') return { type: 'ssh-rsa', blob: Buffer.concat([sshString('ssh-rsa'), mpint(b64url(jwk.e)), mpint(b64url(jwk.n))]) };
  const curve = Object.entries(CURVES).find(([, c]) => c.crv === jwk.crv);
  if (jwk.kty === 'EC' && curve) {
    const point = Buffer.concat([Buffer.from([4]), b64url(jwk.x), b64url(jwk.y)]);
    return { type: curve[0], blob: Buffer.concat([sshString(curve[0]), sshString(curve[0].slice(-8)), sshString(point)]) };
  }
  throw new GatehouseError('unsupported_key', 'Unsupported key type.');
}

/** `ssh-ed25519 AAAA... comment` → the key; throws `invalid_public_key`. */
export function parsePublicKeyLine(line: string): SshPublicKey {
  const match = /^\s*([a-z0-9@.-]+)\s+([A-Za-z0-9+/]+={0,2})(?:\s+.*)?\s*$/s.exec(line);
  if (!match) throw new GatehouseError('invalid_public_key', 'Expected an OpenSSH public key line: "<type> <base64> [comment]".');
  const blob = Buffer.from(match[2], 'base64');
  const type = (() => {
    try {
      return new WireReader(blob).string();
    } catch {
      return '';
    }
  })();
  if (type !== match[1]) throw new GatehouseError('invalid_public_key', 'The key type does not match the key data.');
  if (!SUBJECT_KEY_TYPES.includes(type)) throw new GatehouseError('invalid_public_key', `Unsupported key type "${type}" (use ed25519, ECDSA or RSA).`);
  toKeyObject({ type, blob }); // throws when the fields are malformed
  return { type, blob };
}

export const publicKeyLine = (key: SshPublicKey, comment = ''): string => `${key.type} ${key.blob.toString('base64')}${comment ? ` ${comment}` : ''}`;

/** A node:crypto public key from an SSH public key blob (for verifying signatures). */
export function toKeyObject(key: SshPublicKey): KeyObject {
  try {
    const r = new WireReader(key.blob);
    const type = r.string();
    if (type === ED25519) {
      const x = r.bytes();
      if (x.length !== 32) throw new Error('bad ed25519 key');
      return createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: x.toString('base64url') }, format: 'jwk' });
    }
    if (type === 'ssh-rsa') {
      const e = stripZeros(r.bytes());
      const n = stripZeros(r.bytes());
      if (n.length < 256) throw new Error('RSA keys under 2048 bits are refused');
      return createPublicKey({ key: { kty: 'RSA', e: e.toString('base64url'), n: n.toString('base64url') }, format: 'jwk' });
    }
    const curve = CURVES[type];
    if (curve) {
      r.string();
      const q = r.bytes();
      if (q[0] !== 4 || q.length !== 1 + 2 * curve.size) throw new Error('bad EC point');
      const x = q.subarray(1, 1 + curve.size).toString('base64url');
      const y = q.subarray(1 + curve.size).toString('base64url');
      return createPublicKey({ key: { kty: 'EC', crv: curve.crv, x, y }, format: 'jwk' });
    }
    throw new Error(`unsupported key type ${type}`);
  } catch (err) {
    throw new GatehouseError('invalid_public_key', `The public key is malformed (${(err as Error).message}).`, { cause: err });
  }
}

const stripZeros = (b: Buffer): Buffer => {
  let i = 0;
  while (i < b.length - 1 && b[i] === 0) i++;
  return b.subarray(i);
};

/**
 * The signature algorithms we accept inside SSH signature blobs, per key type. The blob names the
 * base algorithm (`ssh-ed25519`, `rsa-sha2-256`), never a certificate algorithm. SHA-1 RSA is refused.
 */
function hashFor(keyType: string, sigAlgo: string): string | null | undefined {
  if (keyType === ED25519 && sigAlgo === ED25519) return null;
  if (keyType === 'ssh-rsa' && sigAlgo === 'rsa-sha2-256') return 'sha256';
  if (keyType === 'ssh-rsa' && sigAlgo === 'rsa-sha2-512') return 'sha512';
  if (CURVES[keyType] && sigAlgo === keyType) return CURVES[keyType].hash;
  return undefined;
}

/** Verifies an SSH signature blob (`string algo` + `string signature`) over data. */
export async function verifySshSignature(key: SshPublicKey, signatureBlob: Buffer, data: Buffer): Promise<boolean> {
  let algo: string;
  let sig: Buffer;
  try {
    const r = new WireReader(signatureBlob);
    algo = r.string();
    sig = r.bytes();
    r.end();
  } catch {
    return false;
  }
  const hash = hashFor(key.type, algo);
  if (hash === undefined) return false;
  const keyObject = toKeyObject(key);
  if (CURVES[key.type]) {
    try {
      const r = new WireReader(sig);
      const size = CURVES[key.type].size;
      const pad = (b: Buffer) => Buffer.concat([Buffer.alloc(Math.max(0, size - stripZeros(b).length)), stripZeros(b)]);
      const p1363 = Buffer.concat([pad(r.bytes()), pad(r.bytes())]);
      return verify(hash, data, { key: keyObject, dsaEncoding: 'ieee-p1363' }, p1363);
    } catch {
      return false;
    }
  }
  return verify(hash, data, keyObject, sig);
}

/** An ed25519 signature blob as SSH carries it: `string "ssh-ed25519"` + `string sig`. */
export function signEd25519(key: KeyObject, data: Buffer): Buffer {
  return Buffer.concat([sshString(ED25519), sshString(sign(null, data, key))]);
}

/** An unencrypted `openssh-key-v1` private key file for an ed25519 key (what ssh-keygen writes). */
export function openSshPrivateKey(key: KeyObject, comment = ''): string {
  const jwk = key.export({ format: 'jwk' });
  const seed = b64url(jwk.d);
  const pub = b64url(jwk.x);
  const blob = Buffer.concat([sshString(ED25519), sshString(pub)]);
  const check = randomBytes(4);
  let priv = Buffer.concat([check, check, sshString(ED25519), sshString(pub), sshString(Buffer.concat([seed, pub])), sshString(comment)]);
  const pad = (8 - (priv.length % 8)) % 8;
  priv = Buffer.concat([priv, Buffer.from(Array.from({ length: pad }, (_, i) => i + 1))]);
  const body = Buffer.concat([
    Buffer.from('openssh-key-v1\0', 'latin1'),
    sshString('none'),
    sshString('none'),
    sshString(''),
    u32(1),
    sshString(blob),
    sshString(priv),
  ]);
  const lines = body.toString('base64').match(/.{1,70}/g) ?? [];
  return `-----BEGIN OPENSSH PRIVATE KEY-----\n${lines.join('\n')}\n-----END OPENSSH PRIVATE KEY-----\n`; // secret-scan: allow (PEM armour, no key)
}

/** Reads an ed25519 private key in PKCS#8 PEM or openssh-key-v1 form. */
export function readEd25519PrivateKey(text: string): KeyObject {
  if (text.includes('BEGIN PRIVATE KEY')) return createPrivateKey(text);
  const b64 = text.replace(/-----[^-]+-----/g, '').replace(/\s+/g, '');
  const r = new WireReader(Buffer.from(b64, 'base64').subarray(15));
  if (r.string() !== 'none' || r.string() !== 'none') throw new Error('encrypted keys are not supported');
  r.bytes();
  if (r.u32() !== 1) throw new Error('expected one key');
  r.bytes();
  const p = new WireReader(r.bytes());
  p.u32();
  p.u32();
  if (p.string() !== ED25519) throw new Error('expected an ed25519 key');
  const pub = p.bytes();
  const sk = p.bytes();
  return createPrivateKey({ key: { kty: 'OKP', crv: 'Ed25519', x: pub.toString('base64url'), d: sk.subarray(0, 32).toString('base64url') }, format: 'jwk' });
}

/** `SHA256:...` as ssh-keygen -l prints it. */
export const fingerprint = (blob: Buffer): string => `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
