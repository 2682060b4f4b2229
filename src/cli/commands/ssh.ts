import { GatehouseError } from '../../core/errors.js';
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { CaStatus } from '../../ssh-ca/ca.js';
import { parseCertificate, type ParsedCertificate } from '../../ssh-ca/certs.js';
import { CA_KINDS, ROTATION_PHASES } from '../../ssh-ca/rotation.js';
import { covers, type Revocation } from '../../ssh-ca/revocation.js';
import { generateEd25519, openSshPrivateKey, publicKeyLine, publicKeyOf } from '../../ssh-ca/keys.js';
import { gatewayApi, gatewayCredentials, type CliCredentials } from '../credentials.js';
import { UsageError } from '../errors.js';
import { readJsonFile, writeJsonFile } from '../home.js';
import { resolveServer } from '../state.js';
import { chooseHostSuffix, nodeOfAlias, sshConfigSnippet } from '../ssh-config.js';

const USAGE = `usage:
  gatehouse ssh ca [--server URL]          the TrustedUserCAKeys lines (nodes) and the @cert-authority lines (clients)
  gatehouse ssh ca status [--server URL]   each CA's rotation phase, signing key and published keys
  gatehouse ssh ca rotate --kind user|host --phase init|switch|finish|rollback [--force] [--server URL]
                                           run one CA rotation phase (a role with ssh_ca_admin; see docs/ssh.md)
  gatehouse ssh cert [--server URL] [--host-suffix .S]
                                           fetch a user certificate; write key, certificate, known_hosts and ssh config
                                           (nodes are named <node>.gatehouse there, or <node>.S; the suffix is kept)
  gatehouse ssh config                     print the ssh config snippet (Include it at the top of ~/.ssh/config)
  gatehouse ssh revoke [--serial N | --user NAME] [--server URL]
                                           revoke this machine's certificate, one by serial, or all of a person's
  gatehouse ssh [login@]node [command...]  ssh to a node (web-1 or web-1.gatehouse) through the gateway (stock OpenSSH)`;

/** ~/.gatehouse, or $GATEHOUSE_HOME. */
export const gatehouseHome = (): string => process.env.GATEHOUSE_HOME ?? join(homedir(), '.gatehouse');
const sshDir = () => join(gatehouseHome(), 'ssh');
const files = () => {
  const dir = sshDir();
  return {
    dir,
    key: join(dir, 'id_ed25519'),
    cert: join(dir, 'id_ed25519-cert.pub'),
    knownHosts: join(dir, 'known_hosts'),
    config: join(dir, 'config'),
    settings: join(dir, 'settings.json'),
  };
};

/** The host suffix of the ssh config: --host-suffix (then kept in settings.json), GATEHOUSE_SSH_HOST_SUFFIX, the kept one, `.gatehouse`. */
function hostSuffix(flag?: string): string {
  const { settings } = files();
  const suffix = chooseHostSuffix({ flag, env: process.env.GATEHOUSE_SSH_HOST_SUFFIX, saved: readJsonFile<{ host_suffix?: string }>(settings)?.host_suffix });
  if (flag !== undefined) writeJsonFile(settings, { host_suffix: suffix });
  return suffix;
}

interface NodeInfo {
  name: string;
  logins: string[];
}

/**
 * Fetches a user certificate for this machine's Gatehouse key (created on first use) and writes
 * key, certificate, known_hosts (@cert-authority) and an ssh config snippet under
 * ~/.gatehouse/ssh/ (0600). `gatehouse login` calls this too.
 */
export async function writeSshCredentials(
  creds: CliCredentials,
  options: { hostSuffix?: string } = {},
): Promise<{ config: string; principals: string[]; validBefore: string }> {
  const f = files();
  const suffix = hostSuffix(options.hostSuffix);
  mkdirSync(f.dir, { recursive: true, mode: 0o700 });
  if (!existsSync(f.key)) {
    const key = generateEd25519();
    writeFileSync(f.key, openSshPrivateKey(key, 'gatehouse'), { mode: 0o600 });
    writeFileSync(`${f.key}.pub`, `${publicKeyLine(publicKeyOf(key), 'gatehouse')}\n`, { mode: 0o644 });
  }
  const issued = await gatewayApi<{ certificate: string; known_hosts: string; proxy: string | null; principals: string[]; valid_before: string }>(
    creds,
    '/api/v1/ssh/certs',
    {
      method: 'POST',
      body: JSON.stringify({ public_key: readFileSync(`${f.key}.pub`, 'utf8') }),
    },
  );
  const nodes = await gatewayApi<{ nodes: NodeInfo[] }>(creds, '/api/v1/ssh/nodes');
  writeFileSync(f.cert, `${issued.certificate}\n`, { mode: 0o600 });
  writeFileSync(f.knownHosts, `${issued.known_hosts}\n`, { mode: 0o600 });
  const proxy = issued.proxy ?? `${new URL(creds.server).hostname}:3022`;
  writeFileSync(f.config, sshConfigSnippet({ ...f, path: f.config, proxy, nodes: nodes.nodes.map((n) => n.name), suffix }), { mode: 0o600 });
  writeFileSync(join(f.dir, 'nodes.json'), JSON.stringify(nodes.nodes), { mode: 0o600 });
  for (const path of [f.key, f.cert, f.knownHosts, f.config]) chmodSync(path, 0o600);
  return { config: f.config, principals: issued.principals, validBefore: issued.valid_before };
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
  const { revoked } = await gatewayApi<{ revoked: Revocation }>(creds, '/api/v1/ssh/certs/revoke', { method: 'POST', body: JSON.stringify(body) });
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
      if (rest[0] === 'rotate') return caRotate(rest.slice(1));
      if (rest[0] === 'status') return caStatus(rest.slice(1));
      const v = flags(rest);
      // Signed in, the client line also covers the nodes this person may reach; else the gateway only.
      const creds = await gatewayCredentials(v).catch(() => undefined);
      const base = (v.server ?? creds?.server ?? process.env.GATEHOUSE_SERVER ?? '').replace(/\/+$/, '');
      if (!base) throw new UsageError('Say which gateway: --server URL or GATEHOUSE_SERVER.');
      const user = await (await fetch(`${base}/api/v1/ssh/ca?type=user`)).text();
      const signedIn = creds && (await fetch(`${base}/api/v1/ssh/ca?type=host`, { headers: { authorization: `Bearer ${creds.token}` } }));
      const host = await (signedIn?.ok ? signedIn : await fetch(`${base}/api/v1/ssh/ca?type=host`)).text();
      process.stdout.write(
        `# Nodes: save as /etc/ssh/gatehouse_user_ca.pub (every line) and set in sshd_config:\n#   TrustedUserCAKeys /etc/ssh/gatehouse_user_ca.pub\n${user.trim()}\n\n` +
          `# Clients: add to ~/.ssh/known_hosts (gatehouse ssh cert does it for you); trusted for these hosts only:\n${host.trim()}\n`,
      );
      return 0;
    }
    case 'cert': {
      const v = parseArgs({
        args: rest,
        allowPositionals: false,
        options: { server: { type: 'string' }, token: { type: 'string' }, 'host-suffix': { type: 'string' } },
      }).values;
      const written = await writeSshCredentials(await gatewayCredentials(v), { hostSuffix: v['host-suffix'] });
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

type RotationStatus = CaStatus & { finish_after?: string };

const describeCa = (s: RotationStatus): string =>
  `${s.kind} CA: phase ${s.phase}${s.since ? ` since ${s.since}` : ''}; signing ${s.signing}\n` +
  s.published.map((p) => `  published ${p.fingerprint} (${p.role})\n`).join('') +
  (s.finish_after ? `  finish allowed from ${s.finish_after}\n` : '');

/** What the operator does next, after a phase left `s`. */
function nextStep(s: RotationStatus): string {
  const rotate = (phase: string) => `gatehouse ssh ca rotate --kind ${s.kind} --phase ${phase}`;
  if (s.phase === 'init')
    return s.kind === 'user'
      ? `Next: put every user CA line (gatehouse ssh ca) in each node's TrustedUserCAKeys file, then: ${rotate('switch')}`
      : `Next: clients get both host CA lines with their next \`gatehouse ssh cert\` (within ssh.cert_ttl); update hand-kept known_hosts from \`gatehouse ssh ca\`; then: ${rotate('switch')}`;
  if (s.phase === 'switch') return `Next: the new key signs. Keep both keys published until ${s.finish_after ?? 'the overlap ends'}, then: ${rotate('finish')}`;
  return `Done: one ${s.kind} CA key is published; remove any other gatehouse-${s.kind}-ca line from nodes and known_hosts (gatehouse ssh ca shows what to keep).`;
}

async function caStatus(args: string[]): Promise<number> {
  const v = parseArgs({ args, allowPositionals: false, options: { server: { type: 'string' } } }).values;
  const base = resolveServer(v.server);
  if (!base) throw new UsageError('Say which gateway: --server URL or GATEHOUSE_SERVER.');
  const res = await fetch(`${base}/api/v1/ssh/ca/rotation`);
  if (!res.ok) throw new GatehouseError('server_error', `The gateway answered ${res.status}.`, { status: res.status });
  const { cas } = (await res.json()) as { cas: RotationStatus[] };
  process.stdout.write(cas.map(describeCa).join(''));
  return 0;
}

async function caRotate(args: string[]): Promise<number> {
  const v = parseArgs({
    args,
    allowPositionals: false,
    options: { server: { type: 'string' }, token: { type: 'string' }, kind: { type: 'string' }, phase: { type: 'string' }, force: { type: 'boolean' } },
  }).values;
  const kind = CA_KINDS.find((k) => k === v.kind);
  const phase = ROTATION_PHASES.find((p) => p === v.phase);
  if (!kind || !phase) throw new UsageError(`Say --kind ${CA_KINDS.join('|')} and --phase ${ROTATION_PHASES.join('|')}.`);
  const status = await gatewayApi<RotationStatus>(await gatewayCredentials(v), '/api/v1/ssh/ca/rotate', {
    method: 'POST',
    body: JSON.stringify({ kind, phase, ...(v.force ? { force: true } : {}) }),
  });
  process.stdout.write(`${describeCa(status)}${nextStep(status)}\n`);
  return 0;
}

/** `gatehouse ssh [login@]node [command...]`: stock ssh with our config; refreshes the certificate when needed. */
async function connect(argv: string[]): Promise<number> {
  const [target, ...command] = argv;
  const f = files();
  const at = target.lastIndexOf('@');
  const suffix = hostSuffix();
  const node = nodeOfAlias(at >= 0 ? target.slice(at + 1) : target, suffix);
  // Rewritten too when the config has no alias for the node (written before a suffix change, or before the node was granted).
  const hasAlias = () => existsSync(f.config) && readFileSync(f.config, 'utf8').split('\n').includes(`Host ${node}${suffix}`);
  if (!certStillValid(f.cert) || !hasAlias()) await writeSshCredentials(await gatewayCredentials({}));
  let login = at >= 0 ? target.slice(0, at) : undefined;
  if (!login) {
    const nodes = JSON.parse(readFileSync(join(f.dir, 'nodes.json'), 'utf8')) as NodeInfo[];
    login = nodes.find((n) => n.name === node)?.logins[0];
    if (!login) throw new UsageError(`You have no login on "${node}" (or no such node). Say one: gatehouse ssh login@${node}`);
  }
  const child = spawn('ssh', ['-F', f.config, `${login}@${node}${suffix}`, ...command], { stdio: 'inherit' });
  return new Promise((resolve) => child.on('close', (code, signal) => resolve(code ?? (signal ? 255 : 1))));
}
