import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { GATEWAY_AUDIENCE } from '../../../src/web/principal.js';
import { createTokenIssuer } from '../../../src/tokens/issuer.js';
import { createKeyManager } from '../../../src/tokens/keys.js';
import type { TestGateway } from '../gateways/gateway.js';
import { eventually, giveUp } from '../eventually.js';
import { runChild, startChild, type ChildRun } from '../processes.js';
import { closedPort, requireBinary, tcpReachable } from './services.js';
import { ensureTestAccount } from '../../../scripts/test-services.mjs';

export const SSHD_CANDIDATES = ['/usr/sbin/sshd'];

/**
 * The account test nodes log in: `gatehouse-test` when we are root (an unprivileged user with
 * /bin/sh and an empty home, created by scripts/test-services.mjs, so no machine's dotfiles are
 * read); otherwise whoever runs the tests, the only account an unprivileged sshd can log in. The
 * test runner sets GATEHOUSE_TEST_SSH_LOGIN; benches and files run by hand get the same account.
 */
export const NODE_LOGIN = process.env.GATEHOUSE_TEST_SSH_LOGIN ?? ensureTestAccount().name;

function accountIds(name: string): { uid: number; gid: number } {
  const id = (flag: string) => Number(spawnSync('id', [flag, name], { encoding: 'utf8' }).stdout);
  return { uid: id('-u'), gid: id('-g') };
}

/**
 * A gateway token signed with the gateway's own keys: the test opens the gateway's key file
 * (file persistence under data_dir) with a second KeyManager, as `gatehouse login` would get one.
 */
export async function mintGatewayToken(
  gw: TestGateway,
  identity: { connector: string; username: string; email?: string; groups: string[] },
  ttlMs = 600_000,
): Promise<string> {
  await fetch(`${gw.url}/.well-known/jwks.json`); // the gateway has written its keys
  const keys = createKeyManager({ alg: 'ES256', dataDir: gw.dataDir, rotateEveryMs: 30 * 86_400_000, maxTokenTtlMs: 600_000 });
  const issuer = createTokenIssuer({ issuer: gw.url, keys, defaultTtlMs: ttlMs });
  return issuer.mint({
    subject: `${identity.connector}:${identity.username}`,
    audience: GATEWAY_AUDIENCE,
    ttlMs,
    claims: { preferred_username: identity.username, email: identity.email, groups: identity.groups, connector: identity.connector },
  });
}

/** ssh-keygen a key pair into dir; returns the private key path. */
export function keygen(dir: string, name: string, type: 'ed25519' | 'rsa' | 'ecdsa' = 'ed25519'): string {
  const path = join(dir, name);
  const r = spawnSync('ssh-keygen', ['-q', '-t', type, '-N', '', '-C', name, '-f', path]);
  if (r.status !== 0) throw new Error(`ssh-keygen failed: ${r.stderr}`);
  return path;
}

export interface Sshd {
  port: number;
  dir: string;
  /** A folder under dir that NODE_LOGIN may write (scp and sftp targets). */
  files: string;
  /** `ssh-ed25519 AAAA...` of the daemon's host key. */
  hostKey: string;
  log(): string;
  stop(): Promise<void>;
}

/**
 * A real OpenSSH daemon on a free 127.0.0.1 port: its own host key, TrustedUserCAKeys = the
 * gateway's user CA, no principals file (the login must be a certificate principal). Sessions log
 * in NODE_LOGIN. Prepared first (port and host key, for the gateway's node config), started once the
 * gateway's CA exists.
 */
export async function prepareSshd(
  t: TestContext,
): Promise<{ port: number; dir: string; hostKey: string; start(userCaLine: string, extra?: string[]): Promise<Sshd> } | undefined> {
  const sshd = requireBinary(t, 'sshd', SSHD_CANDIDATES);
  if (!sshd || !requireBinary(t, 'ssh') || !requireBinary(t, 'ssh-keygen')) return undefined;
  mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-sshd-'));
  chmodSync(dir, 0o755); // the login reads what tests put here
  const files = join(dir, 'files');
  mkdirSync(files);
  if (process.getuid?.() === 0) {
    const { uid, gid } = accountIds(NODE_LOGIN);
    chownSync(files, uid, gid);
  }
  keygen(dir, 'host_ed25519');
  const port = await closedPort();
  const hostKey = readFileSync(join(dir, 'host_ed25519.pub'), 'utf8').trim().split(/\s+/).slice(0, 2).join(' ');
  return { port, dir, hostKey, start: (userCaLine, extra) => startSshd({ sshd, dir, files, port, hostKey, userCaLine, extra }) };
}

async function startSshd(options: {
  sshd: string;
  dir: string;
  files: string;
  port: number;
  hostKey: string;
  userCaLine: string;
  extra?: string[];
}): Promise<Sshd> {
  const { dir, port } = options;
  writeFileSync(join(dir, 'user_ca.pub'), `${options.userCaLine.trim()}\n`);
  const config = [
    `Port ${port}`,
    'ListenAddress 127.0.0.1',
    `HostKey ${join(dir, 'host_ed25519')}`,
    `PidFile ${join(dir, 'sshd.pid')}`,
    `TrustedUserCAKeys ${join(dir, 'user_ca.pub')}`,
    'AuthorizedPrincipalsFile none',
    'AuthorizedKeysFile none',
    'PasswordAuthentication no',
    'KbdInteractiveAuthentication no',
    'PermitRootLogin prohibit-password',
    'UsePAM no',
    'StrictModes no',
    'Subsystem sftp internal-sftp',
    'AcceptEnv LANG LC_* GATEHOUSE_TEST_*',
    'MaxSessions 100',
    'MaxStartups 200',
    'LogLevel VERBOSE',
    ...(options.extra ?? []),
  ];
  writeFileSync(join(dir, 'sshd_config'), `${config.join('\n')}\n`);
  const daemon = startChild(options.sshd, ['-D', '-e', '-f', join(dir, 'sshd_config')], { stdio: ['ignore', 'ignore', 'pipe'] });
  const { child } = daemon;
  let log = '';
  child.stderr?.on('data', (d: Buffer) => (log += d.toString()));
  await eventually(
    () => {
      if (child.exitCode !== null) giveUp(`sshd did not start: ${log}`);
      return tcpReachable('127.0.0.1', port, 200);
    },
    { timeoutMs: 10_000, message: () => `sshd did not start: ${log}` },
  );
  return {
    port,
    dir,
    files: options.files,
    hostKey: options.hostKey,
    log: () => log,
    async stop() {
      await daemon.stop();
      if (process.env.TEST_SSHD_LOG) process.stderr.write(log);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export type SshRun = ChildRun;

/** Runs an OpenSSH tool (ssh, scp, sftp) to completion, feeding `input`; bounded by timeoutMs. */
export function runSsh(tool: string, args: string[], options: { input?: string | Buffer; timeoutMs?: number; env?: NodeJS.ProcessEnv } = {}): Promise<SshRun> {
  return runChild(tool, args, { ...options, env: { ...process.env, ...options.env } });
}

/**
 * An ssh_config for OpenSSH clients going through the gateway: options given with -o are not
 * passed to the ProxyJump process, so everything lives in a config file (-F).
 */
export function writeClientConfig(dir: string, options: { key: string; knownHosts: string; proxy: string; nodes: string[]; extra?: string[] }): string {
  const path = join(dir, 'ssh_config');
  writeFileSync(
    path,
    [
      `Host ${options.nodes.join(' ')}`,
      `  ProxyJump gatehouse@${options.proxy}`,
      'Host *',
      `  IdentityFile ${options.key}`,
      `  CertificateFile ${options.key}-cert.pub`,
      '  IdentitiesOnly yes',
      `  UserKnownHostsFile ${options.knownHosts}`,
      '  GlobalKnownHostsFile /dev/null',
      '  StrictHostKeyChecking yes',
      '  BatchMode yes',
      '  ControlMaster no',
      '  ControlPath none',
      ...(options.extra ?? []),
      '',
    ].join('\n'),
  );
  return path;
}

/** Asks the gateway to sign `key`.pub for a person; writes `key`-cert.pub. */
export async function fetchUserCert(gatewayUrl: string, token: string, key: string): Promise<Record<string, unknown>> {
  const res = await fetch(`${gatewayUrl}/api/v1/ssh/certs`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ public_key: readFileSync(`${key}.pub`, 'utf8') }),
  });
  const body = (await res.json()) as Record<string, unknown>;
  if (res.status !== 201) throw new Error(`cert request failed: ${res.status} ${JSON.stringify(body)}`);
  writeFileSync(`${key}-cert.pub`, `${body.certificate}\n`);
  return body;
}

/** Roles and mappings SSH tests share: admins get root anywhere, devs their own name on env=dev. */
export const SSH_TEST_POLICY = {
  connectors: [{ type: 'oidc', id: 'corp', issuer: 'http://127.0.0.1:9/', client_id: 'gatehouse', client_secret: 'unused' }], // secret-scan: allow
  roles: [
    { name: 'ops', logins: [NODE_LOGIN, 'ops'], node_labels: { env: ['*'] }, port_forwarding: true, max_session_ttl: '2h' },
    { name: 'dev', logins: ['{{external.username}}'], node_labels: { env: ['dev'] } },
    { name: 'auditor', audit: 'read' },
  ],
  mappings: [
    { match: { claim: 'groups', value: 'admins' }, roles: ['ops'] },
    { match: { claim: 'groups', value: 'devs' }, roles: ['dev'] },
    { match: { claim: 'groups', value: 'auditors' }, roles: ['auditor'] },
  ],
};
