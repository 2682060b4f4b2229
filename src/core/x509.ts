import { createPrivateKey, createPublicKey, generateKeyPairSync, KeyObject, randomBytes, webcrypto, X509Certificate } from 'node:crypto';
import { isIP } from 'node:net';
import 'reflect-metadata'; // @peculiar/x509's dependency injection (tsyringe) needs it loaded first
import * as x509 from '@peculiar/x509';

/*
 * Every certificate Gatehouse makes itself, through @peculiar/x509 on Node's WebCrypto: the
 * SAML SP certificate, the Kubernetes proxy's CA and serving certificate, and the database CA's
 * certificates.
 */

/** A private key (PEM, PKCS#8) and its certificate (PEM). */
export interface KeyAndCert {
  key: string;
  cert: string;
}

const DAY_MS = 86_400_000;
const crypto = webcrypto as unknown as Crypto;

/** Signs with SHA-256 under the key's own scheme: RSASSA-PKCS1-v1_5 for RSA, ECDSA for P-256. */
function signingAlgorithm(key: KeyObject): RsaHashedImportParams | EcKeyImportParams {
  if (key.asymmetricKeyType === 'rsa') return { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' };
  if (key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1') return { name: 'ECDSA', namedCurve: 'P-256' };
  throw new Error(`cannot sign certificates with a ${key.asymmetricKeyType} key`);
}

async function sign(options: {
  subject: string;
  issuer: string | x509.Name;
  publicKey: KeyObject;
  signingKey: KeyObject;
  notBefore: Date;
  notAfter: Date;
  extensions?: x509.Extension[];
}): Promise<string> {
  const algorithm = signingAlgorithm(options.signingKey);
  const signingKey = await crypto.subtle.importKey('pkcs8', options.signingKey.export({ type: 'pkcs8', format: 'der' }), algorithm, false, ['sign']);
  const cert = await x509.X509CertificateGenerator.create(
    {
      serialNumber: serial(),
      subject: options.subject,
      issuer: options.issuer,
      notBefore: options.notBefore,
      notAfter: options.notAfter,
      publicKey: new Uint8Array(options.publicKey.export({ type: 'spki', format: 'der' })),
      signingKey,
      signingAlgorithm: { ...algorithm, hash: 'SHA-256' },
      extensions: options.extensions,
    },
    crypto,
  );
  const pem = cert.toString('pem') + '\n';
  new X509Certificate(pem); // Node parses it, or we fail here rather than hand it out
  return pem;
}

/** 16 random bytes, positive and minimal as DER wants: top bit clear, first byte non-zero. */
function serial(): string {
  const bytes = randomBytes(16);
  bytes[0] = bytes[0] & 0x7f || 0x01;
  return bytes.toString('hex');
}

const pkcs8 = (key: KeyObject) => key.export({ type: 'pkcs8', format: 'pem' }).toString();

/** A self-signed certificate (PEM) for the private `key`, valid from an hour ago (clock skew) for `years`. */
export async function selfSignedCert(key: KeyObject, options: { commonName: string; years: number }): Promise<string> {
  const notBefore = new Date(Date.now() - 3_600_000);
  const publicKey = createPublicKey(key);
  return sign({
    subject: `CN=${options.commonName}`,
    issuer: `CN=${options.commonName}`,
    publicKey,
    signingKey: key,
    notBefore,
    notAfter: new Date(notBefore.getTime() + options.years * 365 * DAY_MS),
  });
}

/** A new EC P-256 CA that signs only end-entity certificates (pathlen 0), valid from now for `days`. */
export async function createSelfSignedCa(options: { subject: string; days: number }): Promise<KeyAndCert> {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const notBefore = new Date();
  const cert = await sign({
    subject: options.subject,
    issuer: options.subject,
    publicKey,
    signingKey: privateKey,
    notBefore,
    notAfter: new Date(notBefore.getTime() + options.days * DAY_MS),
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(new Uint8Array(publicKey.export({ type: 'spki', format: 'der' })), false, crypto),
    ],
  });
  return { key: pkcs8(privateKey), cert };
}

/** A new EC P-256 TLS server certificate from `ca`, naming every host (DNS name or IP address), valid from now for `days`. */
export async function issueServerCert(ca: KeyAndCert, options: { subject: string; hosts: string[]; days: number }): Promise<KeyAndCert> {
  if (options.hosts.length === 0) throw new Error('a server certificate needs at least one host');
  const caCert = new X509Certificate(ca.cert);
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const notBefore = new Date();
  const spki = (key: KeyObject) => new Uint8Array(key.export({ type: 'spki', format: 'der' }));
  const cert = await sign({
    subject: options.subject,
    issuer: new x509.X509Certificate(caCert.raw).subjectName, // the CA's subject, byte for byte
    publicKey,
    signingKey: createPrivateKey(ca.key),
    notBefore,
    notAfter: new Date(notBefore.getTime() + options.days * DAY_MS),
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension(options.hosts.map((host): x509.JsonGeneralName => ({ type: isIP(host) ? 'ip' : 'dns', value: host }))),
      await x509.AuthorityKeyIdentifierExtension.create(spki(caCert.publicKey), false, crypto),
      await x509.SubjectKeyIdentifierExtension.create(spki(publicKey), false, crypto),
    ],
  });
  return { key: pkcs8(privateKey), cert };
}

/**
 * A TLS client certificate from `ca` for `publicKey` (clientAuth only), with the caller's extra
 * extensions (the database CA binds an identity this way). Returns the PEM and its serial (hex).
 */
export async function issueClientCert(
  ca: KeyAndCert,
  options: { subject: string; publicKey: KeyObject; notBefore: Date; notAfter: Date; extensions?: { oid: string; value: Uint8Array<ArrayBuffer> }[] },
): Promise<{ cert: string; serial: string }> {
  const caCert = new X509Certificate(ca.cert);
  const spki = (key: KeyObject) => new Uint8Array(key.export({ type: 'spki', format: 'der' }));
  const cert = await sign({
    subject: options.subject,
    issuer: new x509.X509Certificate(caCert.raw).subjectName,
    publicKey: options.publicKey,
    signingKey: createPrivateKey(ca.key),
    notBefore: options.notBefore,
    notAfter: options.notAfter,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth]),
      await x509.AuthorityKeyIdentifierExtension.create(spki(caCert.publicKey), false, crypto),
      ...(options.extensions ?? []).map((e) => new x509.Extension(e.oid, false, e.value)),
    ],
  });
  return { cert, serial: new X509Certificate(cert).serialNumber.toLowerCase() };
}

/** The DER value of a certificate's extension `oid`, if it has one. */
export function extensionValue(der: Uint8Array, oid: string): Uint8Array | undefined {
  const ext = new x509.X509Certificate(new Uint8Array(der)).getExtension(oid);
  return ext ? new Uint8Array(ext.value) : undefined;
}
