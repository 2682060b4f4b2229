import { generateKeyPairSync, X509Certificate } from 'node:crypto';
import type { Logger } from '../core/logger.js';
import { createSelfSignedCa, issueClientCert, issueServerCert, type KeyAndCert } from '../core/x509.js';
import { secretDocument } from '../store/secret-document.js';
import type { Store } from '../store/store.js';
import { identityExtension, type DbCertIdentity } from './identity.js';

/** The database CA: signs people's client certificates and the db listener's serving certificate. */
export interface DbCa {
  /** The CA certificate (PEM): clients' sslrootcert, and what client certificates must chain to. */
  caPem(): Promise<string>;
  /** A fresh serving certificate for the listener, naming these hosts. */
  serverCert(hosts: string[], days: number): Promise<KeyAndCert>;
  /** A fresh key and a client certificate carrying `identity`, valid in [notBefore, notAfter]. */
  issueClient(identity: DbCertIdentity, validity: { notBefore: Date; notAfter: Date }): Promise<KeyAndCert & { serial: string }>;
}

interface StoredCa extends KeyAndCert {
  createdAt: number;
}

const STORE_KEY = 'db:ca';
const FILE_NAME = 'db-ca.json';
const CA_DAYS = 10 * 365;

/**
 * Created once, like the SSH CA: in the shared store when it is Redis (setIfAbsent, so replicas
 * starting together agree on one CA), else 0600 in data_dir. Clients trust it by value.
 */
export function createDbCa(options: { store?: Store; dataDir: string; logger?: Logger }): DbCa {
  const persistence = secretDocument<StoredCa>({ store: options.store, dataDir: options.dataDir, fileName: FILE_NAME, storeKey: STORE_KEY });
  let loaded: Promise<KeyAndCert> | undefined;
  const load = () =>
    (loaded ??= (async () => {
      let stored = await persistence.read();
      if (!stored) {
        stored = await persistence.create({ ...(await createSelfSignedCa({ subject: 'CN=Gatehouse database CA', days: CA_DAYS })), createdAt: Date.now() });
        options.logger?.info('generated the database CA');
      }
      new X509Certificate(stored.cert); // a damaged document fails here, not at the first client
      return { key: stored.key, cert: stored.cert };
    })().catch((err) => {
      loaded = undefined;
      throw err;
    }));

  return {
    caPem: async () => (await load()).cert,
    serverCert: async (hosts, days) => issueServerCert(await load(), { subject: 'CN=Gatehouse database listener', hosts, days }),
    async issueClient(identity, validity) {
      const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
      const { cert, serial } = await issueClientCert(await load(), {
        subject: `CN=${identity.identity.username.replace(/[,+"\\<>;=]/g, '_')}`,
        publicKey,
        ...validity,
        extensions: [identityExtension(identity)],
      });
      return { key: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), cert, serial };
    },
  };
}
