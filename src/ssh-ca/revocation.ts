import { getJson, setJson, type Store } from '../store/store.js';
import { subscribeUntilClosed, type Subscription } from '../store/subscription.js';
import type { Certificate } from './certs.js';
import { BACKDATE_S } from './issue.js';

/** Published when something is revoked, so every replica ends the connections it covers. */
export const REVOKED_CHANNEL = 'ssh:revoked';

/** What was issued under a serial: who owns it, and until when revoking it matters. */
export interface IssuedCert {
  serial: string;
  user: string;
  valid_before: number;
  key_fingerprint: string;
}

/** One revocation: a certificate by serial, or every certificate of a user issued up to `issued_up_to` (epoch s). */
export type Revocation = { serial: string; user: string } | { user: string; issued_up_to: number };

const k = {
  issued: (serial: string) => `ssh:cert:${serial}`,
  serial: (serial: string) => `ssh:revoked:${serial}`,
  user: (user: string) => `ssh:revoked-user:${user}`,
};

/** Seconds until `validBefore`, at least one (a TTL of 0 would keep the key forever). */
const ttlUntil = (validBefore: number) => Math.max(1, validBefore - Math.floor(Date.now() / 1000) + BACKDATE_S);

/**
 * Certificate revocation in the store: by serial, or all of a person's certificates at once
 * (offboarding, a lost laptop). Entries live only as long as the certificates they cover could.
 */
export function createRevocations(store: Store, options: { maxCertTtlMs: number }) {
  return {
    /** Remembers an issued certificate, so its owner can revoke it by serial. */
    remember: (cert: IssuedCert) => setJson(store, k.issued(cert.serial), cert, ttlUntil(cert.valid_before)),

    issued: (serial: string) => getJson<IssuedCert>(store, k.issued(serial)),

    async revokeSerial(cert: IssuedCert): Promise<Revocation> {
      await store.set(k.serial(cert.serial), cert.user, ttlUntil(cert.valid_before));
      const revocation = { serial: cert.serial, user: cert.user };
      await store.publish(REVOKED_CHANNEL, JSON.stringify(revocation));
      return revocation;
    },

    /** Every certificate of `user` issued up to this second; later ones are valid again. */
    async revokeUser(user: string): Promise<Revocation> {
      const revocation = { user, issued_up_to: Math.floor(Date.now() / 1000) };
      await store.set(k.user(user), String(revocation.issued_up_to), Math.ceil(options.maxCertTtlMs / 1000) + BACKDATE_S);
      await store.publish(REVOKED_CHANNEL, JSON.stringify(revocation));
      return revocation;
    },

    /** Fails closed: a store that does not answer throws, and the caller refuses. */
    async isRevoked(cert: Pick<Certificate, 'serial' | 'keyId' | 'validAfter'>): Promise<boolean> {
      const [bySerial, upTo] = await Promise.all([store.get(k.serial(cert.serial.toString())), store.get(k.user(cert.keyId))]);
      return bySerial !== null || (upTo !== null && covers({ user: cert.keyId, issued_up_to: Number(upTo) }, cert));
    },

    /** Calls `onRevoked` for every revocation, on any replica. */
    watch: (onRevoked: (revocation: Revocation) => void): Subscription =>
      subscribeUntilClosed(store, REVOKED_CHANNEL, (message) => {
        try {
          onRevoked(JSON.parse(message) as Revocation);
        } catch {
          /* not ours */
        }
      }),
  };
}

export type Revocations = ReturnType<typeof createRevocations>;

/** Whether a revocation covers a certificate (issued = validAfter + BACKDATE_S). */
export function covers(revocation: Revocation, cert: Pick<Certificate, 'serial' | 'keyId' | 'validAfter'>): boolean {
  if ('serial' in revocation) return revocation.serial === cert.serial.toString();
  return revocation.user === cert.keyId && cert.validAfter + BACKDATE_S <= revocation.issued_up_to;
}
