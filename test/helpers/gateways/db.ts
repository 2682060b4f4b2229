import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { PG_URL, requirePostgres } from '../peers/postgres.js';
import { closedPort } from '../peers/services.js';
import { mintGatewayToken } from '../peers/ssh.js';
import { startGateway, type TestGateway } from './gateway.js';

/** The test PostgreSQL as a `databases` entry (loopback, so tls mode disable is allowed). */
export function sharedPgDatabase(name = 'main-pg', extra: Record<string, unknown> = {}): Record<string, unknown> {
  const url = new URL(PG_URL);
  return { name, protocol: 'postgres', address: `127.0.0.1:${url.port || 5432}`, labels: { env: 'dev' }, tls: { mode: 'disable' }, ...extra };
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
      };
    },
    async stop() {
      await gw.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
