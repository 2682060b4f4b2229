import { calculateJwkThumbprint, exportJWK, generateKeyPair, importJWK, type CryptoKey, type JWK } from 'jose';
import { systemClock, type Clock } from '../core/clock.js';
import type { Logger } from '../core/logger.js';
import { secretDocument } from '../store/secret-document.js';
import type { Store } from '../store/store.js';

export type SigningAlg = 'ES256' | 'RS256';

interface StoredKey {
  kid: string;
  alg: SigningAlg;
  privateJwk: JWK;
  createdAt: number;
  /** When it stopped signing (ms); it stays published until retiredAt + max token lifetime. */
  retiredAt?: number;
}

export interface ActiveKey {
  kid: string;
  alg: SigningAlg;
  key: CryptoKey;
}

/**
 * The issuer's signing keys: generated on first start, persisted (0600 file under
 * data_dir, or in the shared store so replicas agree), `kid` = RFC 7638 thumbprint,
 * rotated on a schedule with old public keys kept until their tokens have expired.
 */
export interface KeyManager {
  /** The key to sign with now (rotating first when it is due). */
  active(): Promise<ActiveKey>;
  /** Public keys that may still verify live tokens. */
  jwks(): Promise<{ keys: JWK[] }>;
  /** Starts signing with a fresh key now. */
  rotate(): Promise<void>;
}

export interface KeyManagerOptions {
  alg: SigningAlg;
  /** Where keys persist: the shared store when one is configured, else this directory. */
  store?: Store;
  dataDir: string;
  rotateEveryMs: number;
  /** The longest lifetime of any token signed: how long a retired key stays published. */
  maxTokenTtlMs: number;
  clock?: Clock;
  logger?: Logger;
}

const STORE_KEY = 'issuer:signing-keys';
const FILE_NAME = 'signing-keys.json';
const RELOAD_INTERVAL_MS = 60_000;

export function createKeyManager(options: KeyManagerOptions): KeyManager {
  const clock = options.clock ?? systemClock;
  const persistence = secretDocument<StoredKey[]>({ store: options.store, dataDir: options.dataDir, fileName: FILE_NAME, storeKey: STORE_KEY });
  let cache: { keys: StoredKey[]; active: ActiveKey; loadedAt: number } | undefined;

  const load = async () => {
    const now = clock.now();
    // Re-read now and then, so a rotation by another replica is picked up.
    if (cache && !rotationDue(cache.keys) && now - cache.loadedAt < RELOAD_INTERVAL_MS) return cache;
    let keys: StoredKey[] | undefined;
    try {
      keys = await persistence.read();
    } catch (err) {
      // The store is briefly away: keep signing and verifying with the keys already in memory
      // (readiness reports the store), rather than failing every token on the data path.
      if (cache && !rotationDue(cache.keys)) return cache;
      throw err;
    }
    if (!keys) {
      // First start: replicas starting together must agree on one key, so only one write wins.
      const created = await persistence.create([await newKey(options.alg, now)]);
      options.logger?.info({ kid: created.at(-1)?.kid }, 'issuer signing key ready');
      keys = created;
    } else if (!keys.some((k) => !k.retiredAt)) {
      keys = [...keys, await newKey(options.alg, now)];
      await persistence.write(keys);
      options.logger?.info({ kid: keys.at(-1)?.kid }, 'generated issuer signing key');
    } else if (rotationDue(keys)) {
      keys = await rotateKeys(keys);
    }
    cache = await materialise(keys);
    return cache;
  };

  const rotationDue = (keys: StoredKey[]) => {
    const current = keys.find((k) => !k.retiredAt);
    return !current || clock.now() - current.createdAt >= options.rotateEveryMs;
  };

  const rotateKeys = async (keys: StoredKey[]): Promise<StoredKey[]> => {
    const now = clock.now();
    const kept = keys.map((k) => (k.retiredAt ? k : { ...k, retiredAt: now })).filter((k) => stillPublished(k, now));
    const next = [...kept, await newKey(options.alg, now)];
    await persistence.write(next);
    options.logger?.info({ kid: next.at(-1)?.kid }, 'rotated issuer signing key');
    return next;
  };

  const stillPublished = (k: StoredKey, now: number) => !k.retiredAt || k.retiredAt + options.maxTokenTtlMs > now;

  const materialise = async (keys: StoredKey[]) => {
    const current = keys.find((k) => !k.retiredAt)!;
    const key = (await importJWK(current.privateJwk, current.alg)) as CryptoKey;
    return { keys, active: { kid: current.kid, alg: current.alg, key }, loadedAt: clock.now() };
  };

  return {
    active: async () => (await load()).active,
    async jwks() {
      const { keys } = await load();
      const now = clock.now();
      return { keys: keys.filter((k) => stillPublished(k, now)).map(publicJwk) };
    },
    async rotate() {
      const keys = (await persistence.read()) ?? [];
      cache = await materialise(await rotateKeys(keys));
    },
  };
}

async function newKey(alg: SigningAlg, now: number): Promise<StoredKey> {
  const { privateKey } = await generateKeyPair(alg, { extractable: true });
  const privateJwk = await exportJWK(privateKey);
  const kid = await calculateJwkThumbprint(privateJwk, 'sha256');
  return { kid, alg, privateJwk: { ...privateJwk, kid, alg }, createdAt: now };
}

function publicJwk(key: StoredKey): JWK {
  const { kty, crv, x, y, n, e } = key.privateJwk;
  const jwk: JWK = { kty, crv, x, y, n, e, kid: key.kid, alg: key.alg, use: 'sig' };
  return JSON.parse(JSON.stringify(jwk)) as JWK;
}
