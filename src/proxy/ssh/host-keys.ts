import ssh2, { type ParsedKey } from 'ssh2';
import { seconds, systemClock, type Clock } from '../../core/clock.js';
import type { SshCa } from '../../ssh-ca/ca.js';
import { generateEd25519, openSshPrivateKey, publicKeyOf } from '../../ssh-ca/keys.js';

const VALIDITY_S = 24 * 3600;
const RENEW_BEFORE_S = 3600;

/**
 * The gateway's SSH host key and the host certificates it presents. The key is generated at start
 * and never stored: clients trust the host CA, not the key. One certificate per name set (the
 * gateway's own names, or a node's name on a jump), valid a day and renewed before it runs out.
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
  const cache = new Map<string, { blob: Buffer; validBefore: number }>();
  return {
    key: parsed,
    privateKey,
    async certFor(principals) {
      const name = principals.join(',');
      const now = seconds(clock.now());
      const cached = cache.get(name);
      if (cached && cached.validBefore - now > RENEW_BEFORE_S) return cached.blob;
      const cert = await ca.signHost({
        publicKey: publicKeyOf(keyObject),
        keyId: `gatehouse:${name}`,
        principals,
        validAfter: now - 60,
        validBefore: now + VALIDITY_S,
      });
      if (cache.size > 10_000) cache.clear();
      cache.set(name, { blob: cert.blob, validBefore: cert.validBefore });
      return cert.blob;
    },
    cached: (principals) => cache.get(principals.join(','))?.blob,
  };
}
