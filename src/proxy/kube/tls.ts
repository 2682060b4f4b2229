import { execFile } from 'node:child_process';
import { randomBytes, X509Certificate } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { GatehouseError } from '../../core/errors.js';

const run = promisify(execFile);
/** Renew the generated serving certificate when it has less than this left. */
const RENEW_BEFORE_MS = 30 * 86_400_000;

export interface ProxyTls {
  cert: string;
  key: string;
  /** The CA kubeconfigs must trust: ours when we generated the certificate, else the configured chain's last certificate. */
  ca: string;
  generated: boolean;
}

/**
 * The proxy's serving certificate: the configured files, or a CA and a certificate Gatehouse
 * makes itself (EC P-256, with the system `openssl`; Node cannot build certificates) and keeps
 * under `dir` with mode 0600. The CA lives ten years; the serving certificate 397 days, and is
 * re-issued at start when it expires within 30 days or no longer names every host.
 */
export async function loadProxyTls(options: { certFile?: string; keyFile?: string; dir: string; hosts: string[] }): Promise<ProxyTls> {
  if (options.certFile && options.keyFile) {
    const cert = readFileSync(options.certFile, 'utf8');
    const chain = cert.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n?/g) ?? [];
    return { cert, key: readFileSync(options.keyFile, 'utf8'), ca: (chain.at(-1) ?? cert).trim() + '\n', generated: false };
  }
  mkdirSync(options.dir, { recursive: true, mode: 0o700 });
  const file = (name: string) => join(options.dir, name);
  const hosts = [...new Set(options.hosts.filter(Boolean))].sort();
  try {
    if (!existsSync(file('ca.crt')) || !existsSync(file('ca.key'))) await makeCa(options.dir);
    if (!servingCertFits(file('tls.crt'), hosts)) await makeServingCert(options.dir, hosts);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new GatehouseError(
        'openssl_missing',
        'The Kubernetes proxy needs the `openssl` command to create its certificate, or kube_proxy.tls_cert_file and tls_key_file.',
        { cause: err },
      );
    }
    throw err;
  }
  return { cert: readFileSync(file('tls.crt'), 'utf8'), key: readFileSync(file('tls.key'), 'utf8'), ca: readFileSync(file('ca.crt'), 'utf8'), generated: true };
}

function servingCertFits(path: string, hosts: string[]): boolean {
  if (!existsSync(path)) return false;
  try {
    const cert = new X509Certificate(readFileSync(path));
    if (Date.parse(cert.validTo) - Date.now() < RENEW_BEFORE_MS) return false;
    const names = (cert.subjectAltName ?? '').split(', ').map((n) => n.replace(/^(DNS|IP Address):/, ''));
    return hosts.every((h) => names.includes(h));
  } catch {
    return false;
  }
}

async function makeCa(dir: string): Promise<void> {
  const tmp = mkdtempSync(join(dir, '.ca-'));
  try {
    await run('openssl', [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      join(tmp, 'ca.key'),
      '-out',
      join(tmp, 'ca.crt'),
      '-days',
      '3650',
      '-sha256',
      '-subj',
      '/O=Gatehouse/CN=Gatehouse Kubernetes proxy CA',
      '-addext',
      'basicConstraints=critical,CA:TRUE,pathlen:0',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
    ]);
    install(tmp, dir, ['ca.key', 'ca.crt']);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

async function makeServingCert(dir: string, hosts: string[]): Promise<void> {
  const tmp = mkdtempSync(join(dir, '.tls-'));
  try {
    const san = hosts.map((h) => (isIP(h) ? `IP:${h}` : `DNS:${h}`)).join(',');
    writeFileSync(
      join(tmp, 'ext.cnf'),
      `basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=${san}\n`,
    );
    await run('openssl', [
      'req',
      '-new',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      join(tmp, 'tls.key'),
      '-out',
      join(tmp, 'tls.csr'),
      '-subj',
      '/O=Gatehouse/CN=gatehouse-kube-proxy',
    ]);
    await run('openssl', [
      'x509',
      '-req',
      '-in',
      join(tmp, 'tls.csr'),
      '-CA',
      join(dir, 'ca.crt'),
      '-CAkey',
      join(dir, 'ca.key'),
      '-set_serial',
      `0x${randomBytes(16)
        .toString('hex')
        .replace(/^[89a-f]/, '7')}`,
      '-days',
      '397',
      '-sha256',
      '-extfile',
      join(tmp, 'ext.cnf'),
      '-out',
      join(tmp, 'tls.crt'),
    ]);
    install(tmp, dir, ['tls.key', 'tls.crt']);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

/** Moves the new files into place, 0600, each by rename: a crash leaves the old or the new, never half. */
function install(from: string, to: string, names: string[]): void {
  for (const name of names) {
    chmodSync(join(from, name), 0o600);
    new X509Certificate(readFileSync(join(from, name.replace(/\.key$/, '.crt')))); // parses, or throws
    renameSync(join(from, name), join(to, name));
  }
}
