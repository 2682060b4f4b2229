import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, copyFileSync, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureTestAccount } from '../../../scripts/test-services.mjs';
import { eventually } from '../eventually.js';
import { startChild, type Child } from '../processes.js';
import { closedPort, tcpReachable } from './services.js';
import { makeTls, type TestTls } from './tls.js';

/** Where Debian keeps PostgreSQL's server binaries (the newest version), if anywhere. */
export function postgresBin(): string | undefined {
  const base = '/usr/lib/postgresql';
  if (!existsSync(base)) return undefined;
  const version = readdirSync(base)
    .filter((v) => existsSync(join(base, v, 'bin', 'initdb')))
    .sort((a, b) => Number(b) - Number(a))[0];
  return version ? join(base, version, 'bin') : undefined;
}

export interface OwnPostgresOptions {
  /** Db users that sign in by client certificate (pg_hba `hostssl ... cert`, the certificate's CN the user), checked against `clientCa`. */
  certUsers?: string[];
}

export interface OwnPostgres {
  port: number;
  /** The CA that signed the server's certificate (for 127.0.0.1). */
  tls: TestTls;
  /** With `certUsers`: the CA the server trusts for client certificates (ssl_ca_file); sign with `signClientCert`. */
  clientCa?: TestTls;
  /** The password of `postgres` (SCRAM-SHA-256). */
  password: string;
  /** Runs SQL as postgres over the server's Unix socket (trust there only). */
  psql(sql: string): string;
  stop(): Promise<void>;
}

/**
 * A PostgreSQL of a test's own, unlike the shared one (trust, no TLS): TCP only over TLS with a
 * certificate for 127.0.0.1, and SCRAM-SHA-256 for every TCP login, so the gateway's upstream
 * verify-full and SCRAM sign-in run against the real server. With `certUsers`, those users sign in
 * by a client certificate of `clientCa` instead. Runs as the test account.
 */
export async function startOwnPostgres(options: OwnPostgresOptions = {}): Promise<OwnPostgres> {
  const bin = postgresBin();
  if (!bin) throw new Error('PostgreSQL server binaries not found under /usr/lib/postgresql');
  const account = ensureTestAccount() as { uid: number; gid: number; asUser: string[] };
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-own-pg-'));
  const data = join(dir, 'data');
  const own = (path: string) => process.getuid?.() === 0 && chownSync(path, account.uid, account.gid);
  own(dir);
  const as = (command: string, args: string[]) => {
    const [exe, ...rest] = [...account.asUser, command, ...args];
    const r = spawnSync(exe, rest, { encoding: 'utf8', cwd: dir });
    if (r.status !== 0) throw new Error(`${command} failed: ${r.stderr}`);
    return r.stdout;
  };
  as(join(bin, 'initdb'), ['-D', data, '-U', 'postgres', '-A', 'trust', '-E', 'UTF8', '--no-sync']);
  const tls = makeTls();
  for (const name of ['server.crt', 'server.key']) {
    copyFileSync(join(tls.dir, name), join(data, name));
    own(join(data, name));
    chmodSync(join(data, name), 0o600);
  }
  const certUsers = options.certUsers ?? [];
  const clientCa = certUsers.length ? makeTls() : undefined;
  if (clientCa) {
    copyFileSync(clientCa.caFile, join(data, 'client-ca.crt'));
    own(join(data, 'client-ca.crt'));
  }
  const certLines = certUsers.map((user) => `hostssl all ${user} 127.0.0.1/32 cert\n`).join('');
  writeFileSync(join(data, 'pg_hba.conf'), `local all all trust\n${certLines}hostssl all all 127.0.0.1/32 scram-sha-256\nhost all all 0.0.0.0/0 reject\n`);
  const port = await closedPort();
  const child: Child = startChild(
    account.asUser[0] ?? join(bin, 'postgres'),
    [
      ...account.asUser.slice(1),
      ...(account.asUser.length ? [join(bin, 'postgres')] : []),
      '-D',
      data,
      '-p',
      String(port),
      '-k',
      dir,
      '-c',
      'listen_addresses=127.0.0.1',
      '-c',
      'ssl=on',
      '-c',
      'fsync=off',
      ...(clientCa ? ['-c', 'ssl_ca_file=client-ca.crt'] : []),
    ],
    { stdio: 'ignore', cwd: dir },
  );
  await eventually(() => tcpReachable('127.0.0.1', port), { timeoutMs: 30_000, intervalMs: 100, message: 'the own PostgreSQL did not start' });
  const psql = (sql: string) => as('psql', ['-X', '-q', '-t', '-A', '-h', dir, '-p', String(port), '-U', 'postgres', '-d', 'postgres', '-c', sql]);
  const password = `pw-${process.pid}-${port}`;
  psql(`ALTER ROLE postgres PASSWORD '${password}'`);
  return {
    port,
    tls,
    clientCa,
    password,
    psql,
    async stop() {
      await child.stop(10_000);
      rmSync(dir, { recursive: true, force: true });
      rmSync(tls.dir, { recursive: true, force: true });
      if (clientCa) rmSync(clientCa.dir, { recursive: true, force: true });
    },
  };
}
