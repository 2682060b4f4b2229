import { createPrivateKey, type KeyObject } from 'node:crypto';
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
import { generateEd25519, publicKeyLine, publicKeyOf } from './keys.js';

/** The two SSH certificate authorities: one signs user certificates, the other host certificates. */
export interface SshCa {
  /** `ssh-ed25519 AAAA... gatehouse-user-ca`: the TrustedUserCAKeys line for nodes. */
  userCaLine(): Promise<string>;
  /** `ssh-ed25519 AAAA... gatehouse-host-ca`. */
  hostCaLine(): Promise<string>;
  /** `@cert-authority <patterns> ssh-ed25519 AAAA...`: the known_hosts line for clients, trusted for those hosts only. */
  knownHostsLine(patterns: string): Promise<string>;
  signUser(fields: Omit<CertFields, 'type'>): Promise<Certificate>;
  signHost(fields: Omit<CertFields, 'type'>): Promise<Certificate>;
  /** Parses and checks a user certificate against the user CA (see checkCertificate). */
  checkUser(blob: Buffer, options: { now: number; knownCriticalOptions?: string[] }): Promise<ParsedCertificate>;
}

interface StoredCas {
  user: string;
  host: string;
  createdAt: number;
}

const STORE_KEY = 'ssh:ca';
const FILE_NAME = 'ssh-ca.json';

/**
 * CA keys (ed25519) are generated on first use and persisted like the token signing keys: in the
 * shared store when it is Redis (replicas must agree), else 0600 in data_dir. They do not rotate:
 * every node and client trusts them by value.
 */
export function createSshCa(options: { store?: Store; dataDir: string; logger?: Logger }): SshCa {
  const persistence = secretDocument<StoredCas>({ store: options.store, dataDir: options.dataDir, fileName: FILE_NAME, storeKey: STORE_KEY });
  let loaded: Promise<{ user: KeyObject; host: KeyObject }> | undefined;

  const load = () =>
    (loaded ??= (async () => {
      let stored = await persistence.read();
      if (!stored) {
        const fresh: StoredCas = {
          user: generateEd25519().export({ format: 'pem', type: 'pkcs8' }).toString(),
          host: generateEd25519().export({ format: 'pem', type: 'pkcs8' }).toString(),
          createdAt: Date.now(),
        };
        stored = await persistence.create(fresh);
        options.logger?.info('generated SSH user and host CAs');
      }
      return { user: createPrivateKey(stored.user), host: createPrivateKey(stored.host) };
    })().catch((err) => {
      loaded = undefined;
      throw err;
    }));

  return {
    userCaLine: async () => publicKeyLine(publicKeyOf((await load()).user), 'gatehouse-user-ca'),
    hostCaLine: async () => publicKeyLine(publicKeyOf((await load()).host), 'gatehouse-host-ca'),
    knownHostsLine: async (patterns) => `@cert-authority ${patterns} ${publicKeyLine(publicKeyOf((await load()).host), 'gatehouse-host-ca')}`,
    signUser: async (fields) => signCertificate((await load()).user, { ...fields, type: USER_CERT }),
    signHost: async (fields) => signCertificate((await load()).host, { ...fields, type: HOST_CERT }),
    async checkUser(blob, { now, knownCriticalOptions }) {
      const cert = parseCertificate(blob);
      await checkCertificate(cert, { trustedCas: [publicKeyOf((await load()).user).blob], type: USER_CERT, now, knownCriticalOptions });
      return cert;
    },
  };
}
