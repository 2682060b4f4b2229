import { GatehouseError } from '../../core/errors.js';
import { errorCodeOr } from '../../core/error-codes.js';
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { parseCertificate, type ParsedCertificate } from '../../ssh-ca/certs.js';
import { covers, type Revocation } from '../../ssh-ca/revocation.js';
import { generateEd25519, openSshPrivateKey, publicKeyLine, publicKeyOf } from '../../ssh-ca/keys.js';
import { gatewayCredentials, type CliCredentials } from '../credentials.js';
import { UsageError } from '../errors.js';

const USAGE = `usage:
  gatehouse ssh ca [--server URL]          the TrustedUserCAKeys line (nodes) and the @cert-authority line (clients)
  gatehouse ssh cert [--server URL]        fetch a user certificate; write key, certificate, known_hosts and ssh config
  gatehouse ssh config                     print the ssh config snippet (Include it from ~/.ssh/config)
  gatehouse ssh revoke [--serial N | --user NAME] [--server URL]
                                           revoke this machine's certificate, one by serial, or all of a person's
  gatehouse ssh [login@]node [command...]  ssh to a node through the gateway (stock OpenSSH)`;

/** ~/.gatehouse, or $GATEHOUSE_HOME. */
export const gatehouseHome = (): string => process.env.GATEHOUSE_HOME ?? join(homedir(), '.gatehouse');
const sshDir = () => join(gatehouseHome(), 'ssh');
const files = () => {
  const dir = sshDir();
  return { dir, key: join(dir, 'id_ed25519'), cert: join(dir, 'id_ed25519-cert.pub'), knownHosts: join(dir, 'known_hosts'), config: join(dir, 'config') };
};

interface NodeInfo {
  name: string;
  logins: string[];
}

async function api<T>(creds: CliCredentials, path: string, init: RequestInit = {}): Promise<T> {
  const res = await fetch(`${creds.server}${path}`, {
    ...init,
    headers: { authorization: `Bearer ${creds.token}`, 'content-type': 'application/json', ...init.headers },
  });
  const body = (await res.json().catch(() => ({}))) as T & { error?: string; message?: string };
  if (!res.ok)
    throw new GatehouseError(errorCodeOr(body.error, 'server_error'), `${body.message ?? res.statusText} (${body.error ?? res.status})`, {
      status: res.status,
    });
  return body;
}

/**
 * Fetches a user certificate for this machine's Gatehouse key (created on first use) and writes
 * key, certificate, known_hosts (@cert-authority) and an ssh config snippet under
 * ~/.gatehouse/ssh/ (0600). `gatehouse login` calls this too.
 */
export async function writeSshCredentials(creds: CliCredentials): Promise<{ config: string; principals: string[]; validBefore: string }> {
  const f = files();
  mkdirSync(f.dir, { recursive: true, mode: 0o700 });
  if (!existsSync(f.key)) {
    const key = generateEd25519();
    writeFileSync(f.key, openSshPrivateKey(key, 'gatehouse'), { mode: 0o600 });
    writeFileSync(`${f.key}.pub`, `${publicKeyLine(publicKeyOf(key), 'gatehouse')}\n`, { mode: 0o644 });
  }
  const issued = await api<{ certificate: string; known_hosts: string; proxy: string | null; principals: string[]; valid_before: string }>(
    creds,
    '/api/v1/ssh/certs',
    {
      method: 'POST',
      body: JSON.stringify({ public_key: readFileSync(`${f.key}.pub`, 'utf8') }),
    },
  );
  const nodes = await api<{ nodes: NodeInfo[] }>(creds, '/api/v1/ssh/nodes');
  writeFileSync(f.cert, `${issued.certificate}\n`, { mode: 0o600 });
  writeFileSync(f.knownHosts, `${issued.known_hosts}\n`, { mode: 0o600 });
  const proxy = issued.proxy ?? `${new URL(creds.server).hostname}:3022`;
  writeFileSync(f.config, sshConfigSnippet({ ...f, proxy, nodes: nodes.nodes.map((n) => n.name) }), { mode: 0o600 });
  writeFileSync(join(f.dir, 'nodes.json'), JSON.stringify(nodes.nodes), { mode: 0o600 });
  for (const path of [f.key, f.cert, f.knownHosts, f.config]) chmodSync(path, 0o600);
  return { config: f.config, principals: issued.principals, validBefore: issued.valid_before };
}

/** The ssh_config snippet: the gateway as a jump host, and every node the person may reach behind it. */
export function sshConfigSnippet(o: { key: string; cert: string; knownHosts: string; proxy: string; nodes: string[] }): string {
  const sep = o.proxy.lastIndexOf(':');
  const common = [
    `  IdentityFile ${o.key}`,
    `  CertificateFile ${o.cert}`,
    '  IdentitiesOnly yes',
    `  UserKnownHostsFile ${o.knownHosts}`,
    '  StrictHostKeyChecking yes',
  ];
  return [
    '# Gatehouse SSH: written by `gatehouse ssh cert` / `gatehouse login`.',
    `# Use it with \`ssh -F ${o.knownHosts.replace(/known_hosts$/, 'config')} login@node\`, or add to ~/.ssh/config:`,
    `#   Include ${o.knownHosts.replace(/known_hosts$/, 'config')}`,
    'Host gatehouse-proxy',
    `  HostName ${o.proxy.slice(0, sep).replace(/^\[|\]$/g, '')}`,
    `  Port ${o.proxy.slice(sep + 1)}`,
    '  User gatehouse',
    ...common,
    ...(o.nodes.length ? [`Host ${o.nodes.join(' ')}`, '  ProxyJump gatehouse-proxy', ...common] : []),
    '',
  ].join('\n');
}

/** This machine's certificate, if there is a readable one. */
function localCert(path: string): ParsedCertificate | undefined {
  try {
    return parseCertificate(Buffer.from(readFileSync(path, 'utf8').trim().split(/\s+/)[1], 'base64'));
  } catch {
    return undefined;
  }
}

/** This machine's Gatehouse SSH certificate, if any. */
export const localSshCertificate = (): ParsedCertificate | undefined => localCert(files().cert);

/** True when the stored certificate is valid for at least another minute. */
const certStillValid = (path: string): boolean => (localCert(path)?.validBefore ?? 0) - Date.now() / 1000 > 60;

/**
 * Revokes this machine's certificate (default), one by serial, or every certificate of a person;
 * deletes the local certificate when the revocation covers it. `gatehouse logout` calls this too.
 */
export async function revokeSshCertificates(creds: CliCredentials, target: { serial?: string; user?: string } = {}): Promise<Revocation> {
  const f = files();
  const local = localCert(f.cert);
  const body = target.user ? { user: target.user } : { serial: target.serial ?? local?.serial.toString() };
  if (!body.user && !body.serial) throw new UsageError('No certificate on this machine: say --serial N or --user NAME.');
  const { revoked } = await api<{ revoked: Revocation }>(creds, '/api/v1/ssh/certs/revoke', { method: 'POST', body: JSON.stringify(body) });
  if (local && covers(revoked, local)) rmSync(f.cert, { force: true });
  return revoked;
}

export async function sshCommand(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (!sub || sub === '-h' || sub === '--help') {
    process.stdout.write(`${USAGE}\n`);
    return sub ? 0 : 64;
  }
  const flags = (args: string[]) => parseArgs({ args, allowPositionals: false, options: { server: { type: 'string' }, token: { type: 'string' } } }).values;
  switch (sub) {
    case 'ca': {
      const { server } = flags(rest);
      const base = (server ?? process.env.GATEHOUSE_SERVER ?? '').replace(/\/+$/, '');
      if (!base) throw new UsageError('Say which gateway: --server URL or GATEHOUSE_SERVER.');
      const [user, host] = await Promise.all(['user', 'host'].map(async (type) => (await fetch(`${base}/api/v1/ssh/ca?type=${type}`)).text()));
      process.stdout.write(
        `# Nodes: save as /etc/ssh/gatehouse_user_ca.pub and set in sshd_config:\n#   TrustedUserCAKeys /etc/ssh/gatehouse_user_ca.pub\n${user.trim()}\n\n` +
          `# Clients: add to ~/.ssh/known_hosts (gatehouse ssh cert does it for you):\n${host.trim()}\n`,
      );
      return 0;
    }
    case 'cert': {
      const v = flags(rest);
      const written = await writeSshCredentials(await gatewayCredentials(v));
      process.stdout.write(`Certificate for ${written.principals.join(', ')}, valid until ${written.validBefore}.\nssh config: ${written.config}\n`);
      return 0;
    }
    case 'revoke': {
      const v = parseArgs({
        args: rest,
        allowPositionals: false,
        options: { server: { type: 'string' }, token: { type: 'string' }, serial: { type: 'string' }, user: { type: 'string' } },
      }).values;
      if (v.serial && v.user) throw new UsageError('Say --serial or --user, not both.');
      const revoked = await revokeSshCertificates(await gatewayCredentials(v), { serial: v.serial, user: v.user });
      process.stdout.write(
        'serial' in revoked
          ? `Revoked certificate ${revoked.serial} of ${revoked.user}.\n`
          : `Revoked every certificate of ${revoked.user} issued up to ${new Date(revoked.issued_up_to * 1000).toISOString()}.\n`,
      );
      return 0;
    }
    case 'config': {
      const f = files();
      if (!existsSync(f.config)) throw new UsageError('No Gatehouse ssh config yet: run `gatehouse ssh cert` (or `gatehouse login`).');
      process.stdout.write(readFileSync(f.config, 'utf8'));
      return 0;
    }
    default:
      return connect(argv);
  }
}

/** `gatehouse ssh [login@]node [command...]`: stock ssh with our config; refreshes the certificate when needed. */
async function connect(argv: string[]): Promise<number> {
  const [target, ...command] = argv;
  const f = files();
  if (!certStillValid(f.cert) || !existsSync(f.config)) await writeSshCredentials(await gatewayCredentials({}));
  const at = target.lastIndexOf('@');
  const node = at >= 0 ? target.slice(at + 1) : target;
  let login = at >= 0 ? target.slice(0, at) : undefined;
  if (!login) {
    const nodes = JSON.parse(readFileSync(join(f.dir, 'nodes.json'), 'utf8')) as NodeInfo[];
    login = nodes.find((n) => n.name === node)?.logins[0];
    if (!login) throw new UsageError(`You have no login on "${node}" (or no such node). Say one: gatehouse ssh login@${node}`);
  }
  const child = spawn('ssh', ['-F', f.config, `${login}@${node}`, ...command], { stdio: 'inherit' });
  return new Promise((resolve) => child.on('close', (code, signal) => resolve(code ?? (signal ? 255 : 1))));
}
