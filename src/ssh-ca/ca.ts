import { createPrivateKey, randomUUID, type KeyObject } from 'node:crypto';
import { systemClock, type Clock } from '../core/clock.js';
import { GatehouseError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { secretDocument } from '../store/secret-document.js';
import type { Store } from '../store/store.js';
import {
  checkCertificate,
  HOST_CERT,
  parseCertificate,
  signCertificate,
  USER_CERT,
  type Certificate,
  type CertFields,
  type ParsedCertificate,
} from './certs.js';
import { fingerprint, generateEd25519, publicKeyLine, publicKeyOf } from './keys.js';
import { applyPhase, publishedKeys, type CaKind, type PublishedKeys, type RotationPhase, type RotationState, type StoredCas } from './rotation.js';

/** One CA kind as operators see it: the phase, the signing key and every published key. */
export interface CaStatus {
  kind: CaKind;
  phase: RotationState;
  /** When the phase began (ISO 8601); absent in standby. */
  since?: string;
  /** Fingerprint (`SHA256:…`) of the key that signs now. */
  signing: string;
  published: { fingerprint: string; role: 'signing' | 'next' | 'previous'; line: string }[];
}

/** The two SSH certificate authorities: one signs user certificates, the other host certificates. */
export interface SshCa {
  /** TrustedUserCAKeys lines for nodes: every published user CA key, the signing one first. */
  userCaLines(): Promise<string[]>;
  /** `@cert-authority <patterns> ssh-ed25519 AAAA...` lines for clients, one per published host CA key, trusted for those hosts only. */
  knownHostsLines(patterns: string): Promise<string[]>;
  signUser(fields: Omit<CertFields, 'type'>): Promise<Certificate>;
  signHost(fields: Omit<CertFields, 'type'>): Promise<Certificate>;
  /** The public key blob of the key that signs `kind` certificates now. */
  signingKey(kind: CaKind): Promise<Buffer>;
  /** Parses and checks a user certificate against every published user CA key (see checkCertificate). */
  checkUser(blob: Buffer, options: { now: number; knownCriticalOptions?: string[] }): Promise<ParsedCertificate>;
  status(kind: CaKind): Promise<CaStatus>;
  /** Runs one rotation phase (see rotation.ts), read and written under a lock; returns the state before and after. */
  rotate(kind: CaKind, phase: RotationPhase, options: { overlapMs: number; force?: boolean }): Promise<{ from: CaStatus; to: CaStatus }>;
  /** Called, and awaited, after this instance ran a phase (other instances notice within reloadMs). */
  onRotate(listener: (kind: CaKind) => Promise<void> | void): void;
}

const STORE_KEY = 'ssh:ca';
const LOCK_KEY = 'ssh:ca:rotating';
const FILE_NAME = 'ssh-ca.json';
/** How stale a replica's view of the CA document may be: a phase run elsewhere applies here within this. */
export const CA_RELOAD_MS = 5_000;

interface Loaded {
  doc: StoredCas;
  loadedAt: number;
}

const newPem = () => generateEd25519().export({ format: 'pem', type: 'pkcs8' }).toString();

/**
 * CA keys (ed25519) are generated on first use and persisted like the token signing keys: in the
 * shared store when it is Redis (replicas must agree), else 0600 in data_dir. Nodes and clients
 * trust them by value, so they change only through an operator's rotation (rotation.ts), which
 * publishes the new key long before it signs. The document is re-read every `reloadMs`; while
 * the store does not answer, the keys in memory keep working.
 */
export function createSshCa(options: { store?: Store; dataDir: string; logger?: Logger; reloadMs?: number; clock?: Clock }): SshCa {
  const { store, logger } = options;
  const clock = options.clock ?? systemClock;
  const reloadMs = options.reloadMs ?? CA_RELOAD_MS;
  const persistence = secretDocument<StoredCas>({ store, dataDir: options.dataDir, fileName: FILE_NAME, storeKey: STORE_KEY });
  const keyObjects = new Map<string, KeyObject>();
  const listeners: ((kind: CaKind) => Promise<void> | void)[] = [];
  let cache: Loaded | undefined;
  let reading: Promise<Loaded> | undefined;
  let rotating: Promise<unknown> = Promise.resolve();

  const keep = (doc: StoredCas): Loaded => (cache = { doc, loadedAt: clock.now() });

  const read = async (): Promise<Loaded> => {
    let doc: StoredCas | undefined;
    try {
      doc = await persistence.read();
    } catch (err) {
      if (cache) return keep(cache.doc); // the store is away: keep the keys we have (readiness reports the store), and ask again after reloadMs
      throw err;
    }
    if (!doc && cache) {
      // The document vanished (a store restarted empty): put back the keys every node trusts.
      logger?.warn('the SSH CA document is missing from the store; restoring it');
      doc = await persistence.create(cache.doc);
    } else if (!doc) {
      doc = await persistence.create({ user: newPem(), host: newPem(), createdAt: clock.now() });
      logger?.info('generated SSH user and host CAs');
    }
    return keep(doc);
  };

  const load = (): Promise<Loaded> => {
    if (cache && clock.now() - cache.loadedAt < reloadMs) return Promise.resolve(cache);
    return (reading ??= read().finally(() => (reading = undefined)));
  };

  const keyOf = (pem: string): KeyObject => {
    let key = keyObjects.get(pem);
    if (!key) keyObjects.set(pem, (key = createPrivateKey(pem)));
    return key;
  };
  const blobOf = (pem: string) => publicKeyOf(keyOf(pem)).blob;
  const published = async (kind: CaKind): Promise<PublishedKeys> => publishedKeys((await load()).doc, kind);
  // `gatehouse-user-ca`, and `-next` / `-previous` for the second key during a rotation.
  const lineOf = (kind: CaKind, pem: string, role: string) =>
    publicKeyLine(publicKeyOf(keyOf(pem)), `gatehouse-${kind}-ca${role === 'signing' ? '' : `-${role}`}`);
  const lines = async (kind: CaKind) => (await published(kind)).published.map(({ pem, role }) => lineOf(kind, pem, role));
  const statusOf = (doc: StoredCas, kind: CaKind): CaStatus => {
    const keys = publishedKeys(doc, kind);
    return {
      kind,
      phase: keys.state,
      since: keys.since === undefined ? undefined : new Date(keys.since).toISOString(),
      signing: fingerprint(blobOf(keys.signing)),
      published: keys.published.map(({ pem, role }) => ({
        fingerprint: fingerprint(blobOf(pem)),
        role,
        line: lineOf(kind, pem, role),
      })),
    };
  };

  /** One phase at a time: in this process by a queue, across replicas by a lock in the store. */
  const exclusively = <T>(work: () => Promise<T>): Promise<T> => {
    const run = rotating.then(async () => {
      const token = randomUUID();
      if (store && !(await store.setIfAbsent(LOCK_KEY, token, 30)))
        throw new GatehouseError('ssh_ca_busy', 'Another CA rotation step is running; try again in a moment.', { status: 409 });
      try {
        return await work();
      } finally {
        // Not atomic, but the lock only guards a few milliseconds of work and expires by itself.
        if (store && (await store.get(LOCK_KEY).catch(() => null)) === token) await store.delete(LOCK_KEY).catch(() => {});
      }
    });
    rotating = run.catch(() => {});
    return run;
  };

  return {
    userCaLines: () => lines('user'),
    knownHostsLines: async (patterns) => (await lines('host')).map((line) => `@cert-authority ${patterns} ${line}`),
    signUser: async (fields) => signCertificate(keyOf((await published('user')).signing), { ...fields, type: USER_CERT }),
    signHost: async (fields) => signCertificate(keyOf((await published('host')).signing), { ...fields, type: HOST_CERT }),
    signingKey: async (kind) => blobOf((await published(kind)).signing),
    async checkUser(blob, { now, knownCriticalOptions }) {
      const cert = parseCertificate(blob);
      const trustedCas = (await published('user')).published.map(({ pem }) => blobOf(pem));
      await checkCertificate(cert, { trustedCas, type: USER_CERT, now, knownCriticalOptions });
      return cert;
    },
    status: async (kind) => statusOf((await load()).doc, kind),
    rotate: (kind, phase, { overlapMs, force }) =>
      exclusively(async () => {
        // Fresh from the store, never the cache: the phase may have moved on another replica.
        const before = (await persistence.read()) ?? (await read()).doc;
        const after = applyPhase(before, kind, phase, { now: clock.now(), overlapMs, force, generate: newPem });
        await persistence.write(after);
        keep(after);
        logger?.info({ kind, phase }, 'SSH CA rotation phase');
        for (const listener of listeners)
          await Promise.resolve()
            .then(() => listener(kind))
            .catch((err) => logger?.error({ err, kind }, 'after an SSH CA rotation phase'));
        return { from: statusOf(before, kind), to: statusOf(after, kind) };
      }),
    onRotate: (listener) => void listeners.push(listener),
  };
}
