import { randomBytes, sign, type KeyObject } from 'node:crypto';
import { GatehouseError } from '../core/errors.js';
import type { ErrorCode } from '../core/error-codes.js';
import { publicKeyOf, SUBJECT_KEY_TYPES, verifySshSignature, type SshPublicKey } from './keys.js';
import { packedOptions, packedStrings, sshString, u32, u64, WireReader } from './wire.js';

/**
 * OpenSSH certificates (PROTOCOL.certkeys), written and checked by hand: a certificate is the
 * subject's public key fields plus serial, type, key id, principals, validity, critical options
 * and extensions, signed by a CA key (ed25519 here).
 */

export const USER_CERT = 1;
export const HOST_CERT = 2;
const CERT_SUFFIX = '-cert-v01@openssh.com';

export interface CertFields {
  /** The key being certified. */
  publicKey: SshPublicKey;
  type: typeof USER_CERT | typeof HOST_CERT;
  keyId: string;
  principals: string[];
  /** Seconds since the epoch. */
  validAfter: number;
  validBefore: number;
  criticalOptions?: Record<string, string>;
  extensions?: Record<string, string>;
  serial?: bigint;
}

export interface Certificate extends Required<CertFields> {
  /** e.g. `ssh-ed25519-cert-v01@openssh.com` */
  certType: string;
  /** The whole certificate blob (what goes after the type in an authorized_keys-style line). */
  blob: Buffer;
  /** The CA's public key blob. */
  signatureKey: Buffer;
}

export const certTypeFor = (keyType: string): string => `${keyType}${CERT_SUFFIX}`;
export const isCertAlgorithm = (algo: string): boolean => algo.endsWith(CERT_SUFFIX);

/** Signs a certificate with an ed25519 CA key. */
export function signCertificate(ca: KeyObject, fields: CertFields): Certificate {
  const { publicKey } = fields;
  if (!SUBJECT_KEY_TYPES.includes(publicKey.type)) throw new GatehouseError('invalid_public_key', `Unsupported key type "${publicKey.type}".`);
  const keyFields = publicKey.blob.subarray(4 + publicKey.type.length);
  const caBlob = publicKeyOf(ca).blob;
  const serial = fields.serial ?? randomBytes(8).readBigUInt64BE();
  const criticalOptions = fields.criticalOptions ?? {};
  const extensions = fields.extensions ?? {};
  const certType = certTypeFor(publicKey.type);
  const body = Buffer.concat([
    sshString(certType),
    sshString(randomBytes(32)),
    keyFields,
    u64(serial),
    u32(fields.type),
    sshString(fields.keyId),
    sshString(packedStrings(fields.principals)),
    u64(BigInt(Math.max(0, Math.floor(fields.validAfter)))),
    u64(BigInt(Math.floor(fields.validBefore))),
    sshString(packedOptions(criticalOptions)),
    sshString(packedOptions(extensions)),
    sshString(Buffer.alloc(0)),
    sshString(caBlob),
  ]);
  const signature = Buffer.concat([sshString('ssh-ed25519'), sshString(sign(null, body, ca))]);
  const blob = Buffer.concat([body, sshString(signature)]);
  return { ...fields, serial, criticalOptions, extensions, certType, blob, signatureKey: caBlob };
}

/** The parts of a certificate blob, with the signed part and the signature still to be checked. */
export interface ParsedCertificate extends Certificate {
  signed: Buffer;
  signature: Buffer;
}

/** Parses a certificate blob; throws GatehouseError `cert_invalid` when malformed. */
export function parseCertificate(blob: Buffer): ParsedCertificate {
  try {
    const r = new WireReader(blob);
    const certType = r.string();
    if (!isCertAlgorithm(certType)) throw new Error(`not a certificate type: ${certType}`);
    const keyType = certType.slice(0, -CERT_SUFFIX.length);
    if (!SUBJECT_KEY_TYPES.includes(keyType)) throw new Error(`unsupported certificate type ${certType}`);
    r.bytes(); // nonce
    const fieldsStart = r.offset;
    // ed25519: string pk; RSA: mpint e, mpint n; ECDSA: string curve, string Q.
    const fieldCount = keyType === 'ssh-ed25519' ? 1 : 2;
    for (let i = 0; i < fieldCount; i++) r.bytes();
    const keyFields = blob.subarray(fieldsStart, r.offset);
    const serial = r.u64();
    const type = r.u32();
    if (type !== USER_CERT && type !== HOST_CERT) throw new Error('unknown certificate type');
    const keyId = r.string();
    const principals = new WireReader(r.bytes()).allStrings();
    const validAfter = Number(r.u64());
    const validBeforeRaw = r.u64();
    const validBefore = validBeforeRaw > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(validBeforeRaw);
    const criticalOptions = new WireReader(r.bytes()).allOptions();
    const extensions = new WireReader(r.bytes()).allOptions();
    r.bytes(); // reserved
    const signatureKey = r.bytes();
    const signed = blob.subarray(0, r.offset);
    const signature = r.bytes();
    r.end();
    return {
      certType,
      publicKey: { type: keyType, blob: Buffer.concat([sshString(keyType), keyFields]) },
      serial,
      type: type as typeof USER_CERT,
      keyId,
      principals,
      validAfter,
      validBefore,
      criticalOptions,
      extensions,
      blob,
      signatureKey,
      signed,
      signature,
    };
  } catch (err) {
    if (err instanceof GatehouseError) throw err;
    throw new GatehouseError('cert_invalid', `The certificate is malformed (${(err as Error).message}).`, { status: 401, cause: err });
  }
}

export interface CheckOptions {
  /** The public key blobs of CAs we trust for this kind of certificate. */
  trustedCas: Buffer[];
  type: typeof USER_CERT | typeof HOST_CERT;
  /** Seconds since the epoch. */
  now: number;
  /** When given, it must be one of the certificate's principals. */
  principal?: string;
  /** Critical options we understand; any other makes the certificate unusable (PROTOCOL.certkeys). */
  knownCriticalOptions?: string[];
}

/**
 * Checks a certificate: CA (one we trust, signature valid), type, validity window, principal,
 * critical options. Throws GatehouseError with `cert_untrusted`, `cert_expired`,
 * `cert_not_yet_valid`, `cert_wrong_type`, `cert_principal` or `cert_invalid`.
 */
export async function checkCertificate(cert: ParsedCertificate, options: CheckOptions): Promise<void> {
  const deny = (code: ErrorCode, message: string) => new GatehouseError(code, message, { status: 401 });
  if (!options.trustedCas.some((ca) => ca.equals(cert.signatureKey)))
    throw deny('cert_untrusted', 'The certificate is signed by a CA this gateway does not trust.');
  if (!(await verifySshSignature({ type: new WireReader(cert.signatureKey).string(), blob: cert.signatureKey }, cert.signature, cert.signed)))
    throw deny('cert_untrusted', 'The certificate signature is invalid.');
  if (cert.type !== options.type) throw deny('cert_wrong_type', `Expected a ${options.type === USER_CERT ? 'user' : 'host'} certificate.`);
  if (options.now < cert.validAfter) throw deny('cert_not_yet_valid', 'The certificate is not valid yet.');
  if (options.now >= cert.validBefore) throw deny('cert_expired', 'The certificate has expired.');
  if (options.principal !== undefined && !cert.principals.includes(options.principal))
    throw deny('cert_principal', `The certificate is not valid for "${options.principal}".`);
  const unknown = Object.keys(cert.criticalOptions).filter((o) => !(options.knownCriticalOptions ?? []).includes(o));
  if (unknown.length) throw deny('cert_invalid', `The certificate has unsupported critical options: ${unknown.join(', ')}.`);
}
