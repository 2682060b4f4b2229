import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect as tcpConnect, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { PG_URL, requirePostgres } from '../peers/postgres.js';
import mysql from 'mysql2/promise';
import { closedPort, MYSQL_URL, skipOrFail, tcpReachable } from '../peers/services.js';
import { mintGatewayToken } from '../peers/ssh.js';
import { startGateway, type TestGateway } from './gateway.js';

/** The test PostgreSQL as a `databases` entry (loopback, so tls mode disable is allowed). */
export function sharedPgDatabase(name = 'main-pg', extra: Record<string, unknown> = {}): Record<string, unknown> {
  const url = new URL(PG_URL);
  return { name, protocol: 'postgres', address: `127.0.0.1:${url.port || 5432}`, labels: { env: 'dev' }, tls: { mode: 'disable' }, ...extra };
}

/** A server of a test's own (startOwnPostgres, startOwnMariadb) as a `databases` entry: loopback, TLS verify-full against its CA. */
export function ownServerDatabase(
  name: string,
  protocol: 'postgres' | 'mysql',
  own: { port: number; tls: { caFile: string } },
  extra: Record<string, unknown> = {},
): Record<string, unknown> {
  return { name, protocol, address: `127.0.0.1:${own.port}`, labels: { env: 'dev' }, tls: { mode: 'verify-full', ca_file: own.tls.caFile }, ...extra };
}

/** Roles: `dba` may be postgres on any db name of env=dev databases; `dev` only `{{username}}`-named users on `test`. */
export const DB_POLICY = {
  connectors: [{ type: 'oidc', id: 'corp', issuer: 'http://127.0.0.1:9/', client_id: 'gatehouse', client_secret: 'unused' }], // secret-scan: allow
  roles: [
    { name: 'dba', databases: [{ labels: { env: '*' }, users: ['postgres'], names: ['*'] }] },
    { name: 'dev', databases: [{ labels: { env: 'dev' }, users: ['{{username}}'], names: ['test'] }] },
    { name: 'security', ssh_revoke: true },
  ],
  mappings: [
    { match: { claim: 'groups', value: 'dba' }, roles: ['dba'] },
    { match: { claim: 'groups', value: 'dev' }, roles: ['dev'] },
    { match: { claim: 'groups', value: 'security' }, roles: ['security'] },
  ],
};

/** Files a `gatehouse db login` would write, in a directory of their own. */
export interface DbCredentials {
  dir: string;
  cert: string;
  key: string;
  ca: string;
  serial: string;
  /** A libpq connection string through the gateway (verify-full against the database CA). */
  conninfo(user: string, dbname: string): string;
  /** `mariadb` client arguments (after `--no-defaults`) through the gateway (TLS with the certificate, the server's verified against the database CA). */
  mariadbArgs(user: string, database?: string): string[];
}

export interface DbGateway {
  gw: TestGateway;
  port: number;
  token(username: string, groups: string[]): Promise<string>;
  /** POST /api/v1/db/certs as this person; the answer's status and body. */
  requestCert(token: string, body: Record<string, unknown>): Promise<{ status: number; body: Record<string, unknown> }>;
  /** A certificate for `database`, written 0600 under a fresh directory. */
  credentials(username: string, groups: string[], database?: string, body?: Record<string, unknown>): Promise<DbCredentials>;
  stop(): Promise<void>;
}

/**
 * A gateway with the db listener on a free port, the test PostgreSQL as `main-pg` and DB_POLICY
 * (plus `extra` config); undefined (the test skipped) when PostgreSQL is not reachable.
 */
export async function startDbGateway(t: TestContext, extra: Record<string, unknown> = {}): Promise<DbGateway | undefined> {
  if (!(await requirePostgres(t))) return undefined;
  const port = await closedPort();
  const { db, ...rest } = extra as { db?: Record<string, unknown> };
  const gw = await startGateway({ ...DB_POLICY, databases: [sharedPgDatabase()], ...rest, db: { listen: `127.0.0.1:${port}`, ...db } });
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-db-'));
  let n = 0;
  const token = (username: string, groups: string[]) => mintGatewayToken(gw, { connector: 'corp', username, groups });
  const requestCert = async (bearer: string, body: Record<string, unknown>) => {
    const res = await fetch(`${gw.url}/api/v1/db/certs`, {
      method: 'POST',
      headers: { authorization: `Bearer ${bearer}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };
  return {
    gw,
    port,
    token,
    requestCert,
    async credentials(username, groups, database = 'main-pg', body = {}) {
      const answer = await requestCert(await token(username, groups), { database, ...body });
      if (answer.status !== 201) throw new Error(`certificate refused: ${JSON.stringify(answer.body)}`);
      const home = join(dir, `${username}-${n++}`);
      mkdirSync(home, { mode: 0o700 });
      const files = { cert: join(home, 'client.crt'), key: join(home, 'client.key'), ca: join(home, 'ca.crt') };
      writeFileSync(files.cert, String(answer.body.certificate));
      writeFileSync(files.key, String(answer.body.key), { mode: 0o600 });
      writeFileSync(files.ca, String(answer.body.ca));
      chmodSync(files.key, 0o600);
      return {
        dir: home,
        ...files,
        serial: String(answer.body.serial),
        conninfo: (user, dbname) =>
          `host=127.0.0.1 port=${port} user=${user} dbname=${dbname} sslmode=verify-full sslrootcert=${files.ca} sslcert=${files.cert} sslkey=${files.key} gssencmode=disable`,
        mariadbArgs: (user, database) => [
          '-h',
          '127.0.0.1',
          '-P',
          String(port),
          '-u',
          user,
          `--ssl-ca=${files.ca}`,
          `--ssl-cert=${files.cert}`,
          `--ssl-key=${files.key}`,
          '--ssl-verify-server-cert',
          ...(database ? [database] : []),
        ],
      };
    },
    async stop() {
      await gw.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The test MariaDB (root without a password on 127.0.0.1), as the runner starts it. */
export const MYSQL = (() => {
  const url = new URL(MYSQL_URL);
  return { host: '127.0.0.1', port: Number(url.port || 3306) };
})();

/** True when MariaDB answers; otherwise skips (or fails on CI). */
export async function requireMysql(t: TestContext): Promise<boolean> {
  if (await tcpReachable(MYSQL.host, MYSQL.port)) return true;
  skipOrFail(t, `MariaDB is not reachable at ${MYSQL.host}:${MYSQL.port}`);
  return false;
}

/** Runs statements as root on the test MariaDB (one short-lived connection). */
export async function mysqlAdmin<R = unknown>(text: string, params: unknown[] = [], database?: string): Promise<R> {
  const conn = await mysql.createConnection({ ...MYSQL, user: 'root', database, multipleStatements: true });
  try {
    return (await conn.query(text, params))[0] as R;
  } finally {
    await conn.end();
  }
}

/** A database and a password-protected db user of this run on the test MariaDB (dropped by `drop`). */
export interface MysqlFixture {
  user: string;
  password: string;
  database: string;
  /** A second database the user may use on the server (the gateway's roles may still refuse it). */
  other: string;
  drop(): Promise<void>;
}

export async function createMysqlFixture(prefix = 'gh'): Promise<MysqlFixture> {
  const tag = `${prefix}_${process.pid}_${randomBytes(3).toString('hex')}`;
  const user = `${tag}_u`.slice(0, 32);
  const password = randomBytes(12).toString('base64url');
  const database = `${tag}_db`;
  const other = `${tag}_other`;
  await mysqlAdmin(
    `CREATE DATABASE \`${database}\`; CREATE DATABASE \`${other}\`; CREATE USER '${user}'@'%' IDENTIFIED BY '${password}';` +
      ` GRANT ALL ON \`${database}\`.* TO '${user}'@'%'; GRANT ALL ON \`${other}\`.* TO '${user}'@'%';`,
  );
  return {
    user,
    password,
    database,
    other,
    drop: () => mysqlAdmin(`DROP DATABASE IF EXISTS \`${database}\`; DROP DATABASE IF EXISTS \`${other}\`; DROP USER IF EXISTS '${user}'@'%';`).then(() => {}),
  };
}

/** The fixture's MariaDB as a `databases` entry (loopback, tls mode disable), the gateway signing in with its password. */
export function mysqlDatabase(fixture: MysqlFixture, name = 'main-maria', extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    name,
    protocol: 'mysql',
    address: `${MYSQL.host}:${MYSQL.port}`,
    labels: { env: 'dev' },
    tls: { mode: 'disable' },
    credentials: { user: fixture.user, password: fixture.password },
    ...extra,
  };
}

/** Roles for MySQL tests: `dba` may be the fixture's user on any db name; `dev` the same user on the fixture's database only. */
export function mysqlPolicy(fixture: MysqlFixture): Record<string, unknown> {
  return {
    ...DB_POLICY,
    roles: [
      { name: 'dba', databases: [{ labels: { env: '*' }, users: ['postgres', fixture.user], names: ['*'] }] },
      { name: 'dev', databases: [{ labels: { env: 'dev' }, users: [fixture.user], names: [fixture.database] }] },
      { name: 'security', ssh_revoke: true },
    ],
  };
}

/** A TCP relay in front of a database on 127.0.0.1 that counts the connections the gateway opens (a refusal must open none). */
export async function countingRelay(targetPort: number): Promise<{ port: number; count(): number; close(): Promise<void> }> {
  let n = 0;
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    n++;
    const upstream = tcpConnect({ host: '127.0.0.1', port: targetPort });
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => (client.destroy(), upstream.destroy()));
    }
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as { port: number }).port,
    count: () => n,
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise((r) => server.close(r));
    },
  };
}
