import type { PublicKeyAuthContext } from 'ssh2';
import { isGatehouseError } from '../core/errors.js';
import { USER_CERT, checkCertificate, isCertAlgorithm, parseCertificate } from '../ssh-ca/certs.js';
import { verifySshSignature } from '../ssh-ca/keys.js';

/**
 * How the demo node accepts a login, as sshd with `TrustedUserCAKeys` would:
 * - only an OpenSSH user certificate, never a plain key;
 * - signed by one of the trusted user CA keys (the gateway's), signature checked;
 * - inside its validity window, with the requested login among its principals;
 * - no critical options: a person's own certificate carries `gatehouse-only@gatehouse`, which
 *   OpenSSH refuses too, so only the gateway's short-lived upstream certificates get in;
 * - the client's signature over the session proves it holds the certificate's key.
 */
export type CertLogin =
  | { ok: true; login: string; /** The certificate's key id: the Gatehouse user. */ user: string }
  | { ok: false; reason: string }
  /** The client only asked whether this certificate would do (no signature yet). */
  | { ok: 'query' };

export async function checkCertLogin(
  ctx: Pick<PublicKeyAuthContext, 'username' | 'key' | 'signature' | 'blob'>,
  trustedCas: Buffer[],
  nowS: number,
): Promise<CertLogin> {
  if (!isCertAlgorithm(ctx.key.algo)) return { ok: false, reason: 'cert_required' };
  try {
    const cert = parseCertificate(ctx.key.data);
    await checkCertificate(cert, { trustedCas, type: USER_CERT, now: nowS, principal: ctx.username, knownCriticalOptions: [] });
    if (!ctx.signature || !ctx.blob) return { ok: 'query' };
    if (!(await verifySshSignature(cert.publicKey, ctx.signature, ctx.blob))) return { ok: false, reason: 'signature_invalid' };
    return { ok: true, login: ctx.username, user: cert.keyId };
  } catch (err) {
    if (isGatehouseError(err)) return { ok: false, reason: err.code };
    throw err;
  }
}
