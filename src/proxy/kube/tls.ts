import { X509Certificate } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { createSelfSignedCa, issueServerCert, type KeyAndCert } from '../../core/x509.js';
import type { Store } from '../../store/store.js';

/** Renew the generated serving certificate when it has less than this left. */
const RENEW_BEFORE_MS = 30 * 86_400_000;
const CA_DAYS = 3650;
const CA_STORE_KEY = 'kube-proxy:ca';
/** Redis connects in the background; the listener cannot start without its CA, so start-up waits this long for it. */
const STORE_WAIT_MS = 30_000;

export interface ProxyTls {
  cert: string;
  key: string;
  /** The CA kubeconfigs must trust: ours when we generated the certificate, else the configured chain's last certificate. */
  ca: string;
  generated: boolean;
}

/**
 * The proxy's serving certificate: the configured files, or a CA and a certificate Gatehouse
 * makes itself (EC P-256, src/core/x509.ts). The CA lives ten years, in the shared store when it
 * is Redis (replicas behind one balancer must show kubectl one CA), else under `dir`; the serving
 * certificate lives 397 days under `dir` (files 0600), and is re-issued at start when it expires
 * within 30 days, no longer names every host, or was not issued by the CA.
 */
export async function loadProxyTls(options: { certFile?: string; keyFile?: string; dir: string; hosts: string[]; store?: Store }): Promise<ProxyTls> {
  if (options.certFile && options.keyFile) {
    const cert = readFileSync(options.certFile, 'utf8');
    const chain = cert.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n?/g) ?? [];
    return { cert, key: readFileSync(options.keyFile, 'utf8'), ca: (chain.at(-1) ?? cert).trim() + '\n', generated: false };
  }
  mkdirSync(options.dir, { recursive: true, mode: 0o700 });
  const file = (name: string) => join(options.dir, name);
  const hosts = [...new Set(options.hosts.filter(Boolean))].sort();
  const ca = await loadCa(options.dir, options.store);
  if (!servingCertFits(file('tls.crt'), hosts, ca.cert)) {
    install(options.dir, 'tls', await issueServerCert(ca, { subject: 'O=Gatehouse, CN=gatehouse-kube-proxy', hosts, days: 397 }));
  }
  return { cert: readFileSync(file('tls.crt'), 'utf8'), key: readFileSync(file('tls.key'), 'utf8'), ca: ca.cert, generated: true };
}

const newCa = () => createSelfSignedCa({ subject: 'O=Gatehouse, CN=Gatehouse Kubernetes proxy CA', days: CA_DAYS });

/**
 * With Redis, the first replica's CA wins (setIfAbsent) and the others read it; a CA already
 * under `dir` seeds the store, so kubeconfigs made before the store keep working. Without
 * Redis: `dir/ca.key` and `dir/ca.crt`.
 */
async function loadCa(dir: string, store: Store | undefined): Promise<KeyAndCert> {
  const onDisk = existsSync(join(dir, 'ca.crt')) && existsSync(join(dir, 'ca.key'));
  const fromDisk = (): KeyAndCert => ({ key: readFileSync(join(dir, 'ca.key'), 'utf8'), cert: readFileSync(join(dir, 'ca.crt'), 'utf8') });
  if (store?.kind === 'redis') {
    await reachable(store);
    const stored = await store.get(CA_STORE_KEY);
    if (stored) return JSON.parse(stored) as KeyAndCert;
    const candidate = onDisk ? fromDisk() : await newCa();
    if (await store.setIfAbsent(CA_STORE_KEY, JSON.stringify(candidate), CA_DAYS * 86_400)) return candidate;
    const winner = await store.get(CA_STORE_KEY);
    if (!winner) throw new Error('the Kubernetes proxy CA vanished from the store while being created');
    return JSON.parse(winner) as KeyAndCert;
  }
  if (onDisk) return fromDisk();
  const ca = await newCa();
  install(dir, 'ca', ca);
  return ca;
}

async function reachable(store: Store): Promise<void> {
  const deadline = Date.now() + STORE_WAIT_MS;
  for (let delay = 50; ; delay = Math.min(delay * 2, 2000)) {
    try {
      return await store.ping();
    } catch (err) {
      if (Date.now() + delay > deadline) throw err;
    }
    await sleep(delay);
  }
}

function servingCertFits(path: string, hosts: string[], caPem: string): boolean {
  if (!existsSync(path)) return false;
  try {
    const cert = new X509Certificate(readFileSync(path));
    const ca = new X509Certificate(caPem);
    if (!cert.checkIssued(ca) || !cert.verify(ca.publicKey)) return false;
    if (Date.parse(cert.validTo) - Date.now() < RENEW_BEFORE_MS) return false;
    // checkIP, not the SAN text: Node prints ::1 as 0:0:0:0:0:0:0:1 there.
    return hosts.every((h) => (isIP(h) ? cert.checkIP(h) !== undefined : cert.checkHost(h, { subject: 'never' }) !== undefined));
  } catch {
    return false;
  }
}

/**
 * Writes `<name>.key` and `<name>.crt`, 0600, each through a temporary file and a rename: a crash
 * leaves the old file or the new one, never half of one.
 */
function install(dir: string, name: string, pair: KeyAndCert): void {
  for (const [path, pem] of [
    [join(dir, `${name}.key`), pair.key],
    [join(dir, `${name}.crt`), pair.cert],
  ]) {
    writeFileSync(`${path}.tmp`, pem, { mode: 0o600 });
    chmodSync(`${path}.tmp`, 0o600);
    renameSync(`${path}.tmp`, path);
  }
}
