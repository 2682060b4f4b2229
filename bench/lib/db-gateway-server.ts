// The gateway under test for bench/db: the db listener in front of one PostgreSQL (loopback, so
// no upstream TLS), file audit log (every statement is a db.query event) and transcripts in a
// temp dir; it issues one client certificate for alice (db user postgres) and reports it. With
// BENCH_MYSQL_HOST_PORT, also one MariaDB (signed in as BENCH_MYSQL_USER with BENCH_MYSQL_PASSWORD)
// and a certificate for it. With the bench-only loop probe (event-loop delay, GC, CPU profile).
//
// Env: BENCH_PG_HOST_PORT (host:port), BENCH_DATA_DIR; optional BENCH_MYSQL_HOST_PORT, BENCH_MYSQL_USER, BENCH_MYSQL_PASSWORD.
import { parseConfig } from '../../src/config/load.js';
import { createLogger } from '../../src/core/logger.js';
import { createGateway } from '../../src/main.js';
import { GATEWAY_AUDIENCE } from '../../src/tokens/gateway-token.js';
import { closedPort } from '../../test/helpers/peers/services.js';
import { serveUntilStopped } from './children.js';
import { installLoopProbe } from './loop-probe.js';

export interface DbGatewayReady {
  type: 'ready';
  url: string;
  dbPort: number;
  cert: string;
  key: string;
  ca: string;
  /** The MariaDB certificate, when BENCH_MYSQL_HOST_PORT is set. */
  mysql?: { cert: string; key: string };
  [key: string]: unknown;
}

const env = (name: string): string => {
  const value = process.env[name];
  if (!value) throw new Error(`bench db gateway: ${name} is not set`);
  return value;
};

installLoopProbe();
const [port, dbPort] = [await closedPort(), await closedPort()];
const url = `http://127.0.0.1:${port}`;
const dataDir = env('BENCH_DATA_DIR');
const mysqlAt = process.env.BENCH_MYSQL_HOST_PORT;
const config = parseConfig({
  server: { public_url: url, listen: `127.0.0.1:${port}` },
  state: { data_dir: dataDir },
  connectors: [{ type: 'oidc', id: 'corp', issuer: 'http://127.0.0.1:9/', client_id: 'gatehouse', client_secret: 'unused' }], // secret-scan: allow
  roles: [{ name: 'dba', databases: [{ labels: { env: '*' }, users: ['postgres', process.env.BENCH_MYSQL_USER ?? 'postgres'], names: ['*'] }] }],
  mappings: [{ match: { claim: 'groups', value: 'dba' }, roles: ['dba'] }],
  databases: [
    { name: 'bench-pg', protocol: 'postgres', address: env('BENCH_PG_HOST_PORT'), labels: { env: 'bench' }, tls: { mode: 'disable' } },
    ...(mysqlAt
      ? [
          {
            name: 'bench-maria',
            protocol: 'mysql',
            address: mysqlAt,
            labels: { env: 'bench' },
            tls: { mode: 'disable' },
            credentials: { user: env('BENCH_MYSQL_USER'), password: env('BENCH_MYSQL_PASSWORD') },
          },
        ]
      : []),
  ],
  db: { listen: `127.0.0.1:${dbPort}` },
  recordings: { dir: `${dataDir}/recordings` },
});
const gateway = await createGateway(config, { logger: createLogger(process.env.LOG_LEVEL ?? 'error') });
await gateway.start();
await gateway.db!.ready();
const token = await gateway.issuer.mint({
  subject: 'corp:alice',
  audience: GATEWAY_AUDIENCE,
  claims: { preferred_username: 'alice', groups: ['dba'], connector: 'corp' },
});
const certFor = async (database: string, dbUser: string) => {
  const res = await fetch(`${url}/api/v1/db/certs`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ database, db_user: dbUser }),
  });
  if (res.status !== 201) throw new Error(`bench db gateway: certificate refused: ${await res.text()}`);
  return (await res.json()) as { certificate: string; key: string; ca: string };
};
const issued = await certFor('bench-pg', 'postgres');
const maria = mysqlAt ? await certFor('bench-maria', env('BENCH_MYSQL_USER')) : undefined;
serveUntilStopped(
  {
    type: 'ready',
    url,
    dbPort,
    cert: issued.certificate,
    key: issued.key,
    ca: issued.ca,
    ...(maria ? { mysql: { cert: maria.certificate, key: maria.key } } : {}),
  } satisfies DbGatewayReady,
  () => gateway.stop(),
);
