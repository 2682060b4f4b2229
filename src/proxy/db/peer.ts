import type { X509Certificate } from 'node:crypto';
import type { TLSSocket } from 'node:tls';
import { GatehouseError } from '../../core/errors.js';
import { identityFromCert, type DbCertIdentity } from '../../db-ca/identity.js';
import type { Revocations } from '../../ssh-ca/revocation.js';

/** Who is at the other end of a database TLS connection, from their Gatehouse client certificate. */
export interface DbPeer extends DbCertIdentity {
  /** Hex, as the certificate has it. */
  serial: string;
  notBefore: Date;
  notAfter: Date;
}

const CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';

/** The fields revocation checks read: what `covers` and `isRevoked` compare (SSH and database certificates alike). */
export const revocationView = (peer: Pick<DbPeer, 'serial' | 'identity' | 'notBefore'>) => ({
  serial: BigInt(`0x${peer.serial}`),
  keyId: peer.identity.username,
  validAfter: Math.floor(peer.notBefore.getTime() / 1000),
});

/**
 * Checks the certificate a TLS client presented (the handshake asks for one but lets any
 * through, so a refusal can be a clear protocol error): present, signed by the database CA, for
 * client authentication, in its validity window, issued to a person by Gatehouse, and not
 * revoked (fails closed when the store does not answer).
 */
export async function verifyPeer(socket: TLSSocket, ca: X509Certificate, revocations: Pick<Revocations, 'isRevoked'>, now: number): Promise<DbPeer> {
  const cert = socket.getPeerX509Certificate();
  if (!cert)
    throw new GatehouseError('db_cert_required', 'The gateway needs a client certificate: run `gatehouse db login NAME` and use the files it writes.', {
      status: 401,
    });
  if (!cert.checkIssued(ca) || !cert.verify(ca.publicKey) || cert.ca)
    throw new GatehouseError('cert_untrusted', "The client certificate was not issued by this gateway's database CA.", { status: 401 });
  if (!(cert.keyUsage ?? []).includes(CLIENT_AUTH)) throw new GatehouseError('cert_untrusted', 'The certificate is not a client certificate.', { status: 401 });
  const notBefore = new Date(cert.validFrom);
  const notAfter = new Date(cert.validTo);
  const peer: DbPeer = { ...identityFromCert(cert.raw), serial: cert.serialNumber.toLowerCase(), notBefore, notAfter };
  // Signed by our CA from here on: refusals name the person (for the audit).
  const refuse = (code: 'cert_expired' | 'cert_not_yet_valid' | 'cert_revoked', message: string) =>
    new GatehouseError(code, message, { status: 401, details: { username: peer.identity.username, connector: peer.identity.connector } });
  if (now >= notAfter.getTime()) throw refuse('cert_expired', 'The client certificate has expired; run `gatehouse db login` again.');
  if (now < notBefore.getTime()) throw refuse('cert_not_yet_valid', 'The client certificate is not valid yet (check the clock).');
  if (await revocations.isRevoked(revocationView(peer))) throw refuse('cert_revoked', 'The client certificate was revoked.');
  return peer;
}
