import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, copyFileSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureTestAccount } from '../../../scripts/test-services.mjs';
import { eventually } from '../eventually.js';
import { startChild, type Child } from '../processes.js';
import { closedPort } from './services.js';
import { makeTls, type TestTls } from './tls.js';

/** Debian's MariaDB server and client, if all are installed. */
export function mariadbBinaries(): { installDb: string; server: string; client: string } | undefined {
  const find = (name: string) => [...(process.env.PATH ?? '').split(':'), '/usr/sbin', '/sbin'].map((d) => join(d, name)).find((p) => p && existsSync(p));
  const [installDb, server, client] = ['mariadb-install-db', 'mariadbd', 'mariadb'].map(find);
  return installDb && server && client ? { installDb, server, client } : undefined;
}

export interface OwnMariadb {
  port: number;
  /** The CA that signed the server's certificate (for 127.0.0.1). */
  tls: TestTls;
  /** The CA the server trusts for client certificates (ssl_ca); sign with signClientCert. */
  clientCa: TestTls;
  /** Runs SQL as root over the server's Unix socket; the rows, tab-separated. */
  sql(text: string): string;
  stop(): Promise<void>;
}

/**
 * A MariaDB of a test's own, unlike the shared one (no TLS): TLS with a certificate for 127.0.0.1
 * and a client CA, so users can `REQUIRE X509`. Started the way scripts/test-services.mjs starts
 * the shared one, as the test account.
 */
export async function startOwnMariadb(): Promise<OwnMariadb> {
  const bin = mariadbBinaries();
  if (!bin) throw new Error('mariadb-install-db, mariadbd or mariadb is not installed');
  const account = ensureTestAccount() as { uid: number; gid: number; name: string; asUser: string[] };
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-own-maria-'));
  const own = (path: string) => process.getuid?.() === 0 && chownSync(path, account.uid, account.gid);
  own(dir);
  const as = (command: string, args: string[]) => {
    const [exe, ...rest] = [...account.asUser, command, ...args];
    const r = spawnSync(exe, rest, { encoding: 'utf8', cwd: dir, timeout: 60_000 });
    if (r.status !== 0) throw new Error(`${command} failed: ${r.stderr || r.error}`);
    return r.stdout;
  };
  const data = join(dir, 'data');
  const socket = join(dir, 's');
  as(bin.installDb, ['--no-defaults', `--datadir=${data}`, '--auth-root-authentication-method=normal', '--skip-test-db', `--user=${account.name}`]);
  const tls = makeTls();
  const clientCa = makeTls();
  const files = { cert: join(dir, 'server.crt'), key: join(dir, 'server.key'), ca: join(dir, 'client-ca.crt') };
  copyFileSync(join(tls.dir, 'server.crt'), files.cert);
  copyFileSync(join(tls.dir, 'server.key'), files.key);
  copyFileSync(clientCa.caFile, files.ca);
  for (const path of Object.values(files)) own(path);
  chmodSync(files.key, 0o600);
  const port = await closedPort();
  const args = [
    '--no-defaults',
    `--datadir=${data}`,
    `--port=${port}`,
    `--socket=${socket}`,
    '--bind-address=127.0.0.1',
    `--pid-file=${join(dir, 'mariadbd.pid')}`,
    '--innodb-flush-log-at-trx-commit=0',
    '--skip-log-bin',
    `--ssl-cert=${files.cert}`,
    `--ssl-key=${files.key}`,
    `--ssl-ca=${files.ca}`,
  ];
  const [exe, ...rest] = [...account.asUser, bin.server, ...args];
  const child: Child = startChild(exe, rest, { stdio: 'ignore', cwd: dir });
  const sql = (text: string) => as(bin.client, ['--no-defaults', '-S', socket, '-u', 'root', '--batch', '--skip-column-names', '-e', text]);
  await eventually(
    () => {
      try {
        return sql('SELECT 1').trim() === '1';
      } catch {
        return false;
      }
    },
    { timeoutMs: 30_000, intervalMs: 200, message: 'the own MariaDB did not start' },
  );
  return {
    port,
    tls,
    clientCa,
    sql,
    async stop() {
      await child.stop(10_000);
      for (const d of [dir, tls.dir, clientCa.dir]) rmSync(d, { recursive: true, force: true });
    },
  };
}
