import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { GATEWAY_AUDIENCE } from '../../src/web/principal.js';
import { createTokenIssuer } from '../../src/tokens/issuer.js';
import { createKeyManager } from '../../src/tokens/keys.js';
import type { TestGateway } from './gateway.js';
import { closedPort, requireBinary, tcpReachable } from './services.js';

export const SSHD_CANDIDATES = ['/usr/sbin/sshd'];

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
  /** `ssh-ed25519 AAAA...` of the daemon's host key. */
  hostKey: string;
  stop(): Promise<void>;
}

/**
 * A real OpenSSH daemon on a free 127.0.0.1 port: its own host key, TrustedUserCAKeys = the given
 * CA line, no principals file (the login must be a certificate principal), root logins by key only.
 */
export async function startSshd(t: TestContext, options: { userCaLine: string; extra?: string[] }): Promise<Sshd | undefined> {
  const sshd = requireBinary(t, 'sshd', SSHD_CANDIDATES);
  if (!sshd || !requireBinary(t, 'ssh') || !requireBinary(t, 'ssh-keygen')) return undefined;
  mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-sshd-'));
  keygen(dir, 'host_ed25519');
  writeFileSync(join(dir, 'user_ca.pub'), `${options.userCaLine}\n`);
  const port = await closedPort();
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
  const child: ChildProcess = spawn(sshd, ['-D', '-e', '-f', join(dir, 'sshd_config')], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  child.stderr?.on('data', (d: Buffer) => (log += d.toString()));
  const deadline = Date.now() + 10_000;
  while (!(await tcpReachable('127.0.0.1', port, 200))) {
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`sshd did not start: ${log}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  const hostKey = readFileSync(join(dir, 'host_ed25519.pub'), 'utf8').trim().split(/\s+/).slice(0, 2).join(' ');
  return {
    port,
    dir,
    hostKey,
    async stop() {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await exited;
      }
      if (process.env.TEST_SSHD_LOG) process.stderr.write(log);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
