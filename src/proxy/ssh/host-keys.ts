import ssh2, { type ParsedKey } from 'ssh2';
import { seconds, systemClock, type Clock } from '../../core/clock.js';
import { CA_RELOAD_MS, type SshCa } from '../../ssh-ca/ca.js';
import { generateEd25519, openSshPrivateKey, publicKeyOf } from '../../ssh-ca/keys.js';

const VALIDITY_S = 24 * 3600;
const RENEW_BEFORE_S = 3600;

/**
 * The gateway's SSH host key and the host certificates it presents. The key is generated at start
 * and never stored: clients trust the host CA, not the key. One certificate per name set (the
 * gateway's own names, or a node's name on a jump), valid a day and renewed before it runs out,
 * or as soon as another host CA key signs (a rotation's switch or rollback): at once when this
 * process ran the phase, else on the first connection after the CA document was re-read.
 */
export interface HostKeys {
  readonly key: ParsedKey;
  /** The OpenSSH private key text (what ssh2's Server takes). */
  readonly privateKey: string;
  certFor(principals: string[]): Promise<Buffer>;
  /** A certificate signed earlier by certFor (ssh2 needs it synchronously); undefined if none. */
  cached(principals: string[]): Buffer | undefined;
}

export function createHostKeys(ca: SshCa, clock: Clock = systemClock): HostKeys {
  const keyObject = generateEd25519();
  const privateKey = openSshPrivateKey(keyObject, 'gatehouse-host');
  const parsed = ssh2.utils.parseKey(privateKey);
  if (parsed instanceof Error || Array.isArray(parsed)) throw new Error('could not load the generated host key');
  const cache = new Map<string, { principals: string[]; blob: Buffer; validBefore: number; signer: Buffer }>();
  let checkedAt = clock.now();

  const certFor = async (principals: string[]) => {
    const name = principals.join(',');
    const now = seconds(clock.now());
    const signer = await ca.signingKey('host');
    const cached = cache.get(name);
    if (cached && cached.signer.equals(signer) && cached.validBefore - now > RENEW_BEFORE_S) return cached.blob;
    const cert = await ca.signHost({
      publicKey: publicKeyOf(keyObject),
      keyId: `gatehouse:${name}`,
      principals,
      validAfter: now - 60,
      validBefore: now + VALIDITY_S,
    });
    if (cache.size > 10_000) cache.clear();
    cache.set(name, { principals, blob: cert.blob, validBefore: cert.validBefore, signer: cert.signatureKey });
    return cert.blob;
  };
  // Until the new certificates are signed the old ones are presented: clients trust both keys then.
  const resignAll = () => Promise.all([...cache.values()].map((entry) => certFor(entry.principals))).then(() => undefined);
  ca.onRotate((kind) => (kind === 'host' ? resignAll() : undefined));

  return {
    key: parsed,
    privateKey,
    certFor,
    cached(principals) {
      if (clock.now() - checkedAt >= CA_RELOAD_MS) {
        checkedAt = clock.now();
        void resignAll().catch(() => {}); // the periodic renewal retries and logs
      }
      return cache.get(principals.join(','))?.blob;
    },
  };
}
