import { spawn, spawnSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { splitHostPort } from '../../core/hosts.js';
import { gatewayApi, gatewayCredentials, type CliCredentials } from '../credentials.js';
import { mysqlTunnel, postgresTunnel } from '../db-tunnel.js';
import { UsageError } from '../errors.js';
import { gatehouseHome, readJsonFile, writeJsonFile } from '../home.js';
import { mysqlOptionFile, verifyFlags } from '../mysql-option-file.js';
import { mergeServiceEntry } from '../pg-service.js';

const USAGE = `usage:
  gatehouse db ls [--json]                                  the databases you can reach, with your db users and names
  gatehouse db login NAME [--db-user U] [--db-name N]       a short-lived certificate under ~/.gatehouse/db/, and a ~/.pg_service.conf
                                                            entry (PostgreSQL) or ~/.gatehouse/db/NAME.cnf option file (MySQL)
  gatehouse db connect NAME [--db-user U] [--db-name N] [-- client args]
                                                            psql or mariadb through the gateway (logs in first when needed)
  gatehouse db proxy NAME --port P [--db-user U] [--db-name N]
                                                            a local tunnel on 127.0.0.1:P for tools that cannot present a certificate
options: --server URL, --token T (or GATEHOUSE_SERVER, GATEHOUSE_TOKEN)`;

interface Login {
  database: string;
  protocol: string;
  address: string;
  db_user: string | null;
  db_name: string | null;
  valid_before: string;
  cert: string;
  key: string;
  ca: string;
  service: string;
  /** MySQL: the option file for `--defaults-extra-file`. */
  option_file?: string;
}

const dbDir = () => join(gatehouseHome(), 'db');
const serviceFile = () => process.env.PGSERVICEFILE ?? join(homedir(), '.pg_service.conf');

/** libpq connection parameters for a login (user and dbname when known). */
function connParams(login: Login, override: { user?: string; name?: string } = {}): Record<string, string> {
  const [host, port] = splitHostPort(login.address);
  const user = override.user ?? login.db_user ?? undefined;
  const dbname = override.name ?? login.db_name ?? undefined;
  return {
    host,
    port: String(port),
    ...(user ? { user } : {}),
    ...(dbname ? { dbname } : {}),
    sslmode: 'verify-full',
    sslrootcert: login.ca,
    sslcert: login.cert,
    sslkey: login.key,
  };
}

const conninfo = (params: Record<string, string>) =>
  Object.entries(params)
    .map(([k, v]) => `${k}=${/[\s'\\]/.test(v) || v === '' ? `'${v.replace(/[\\']/g, '\\$&')}'` : v}`)
    .join(' ');

/** Fetches a key and certificate for NAME; writes key, certificate and CA 0600 under ~/.gatehouse/db/ and the service file entry. */
export async function dbLogin(creds: CliCredentials, name: string, requested: { user?: string; dbName?: string } = {}): Promise<Login> {
  if (!/^[a-z0-9][a-z0-9_-]{0,62}$/.test(name)) throw new UsageError(`"${name}" is not a database name`);
  const issued = await gatewayApi<{
    certificate: string;
    key: string;
    ca: string;
    address: string;
    protocol: string;
    db_user: string | null;
    db_name: string | null;
    valid_before: string;
  }>(creds, '/api/v1/db/certs', { method: 'POST', body: JSON.stringify({ database: name, db_user: requested.user, db_name: requested.dbName }) });
  const dir = dbDir();
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const login: Login = {
    database: name,
    protocol: issued.protocol,
    address: issued.address,
    db_user: issued.db_user,
    db_name: issued.db_name,
    valid_before: issued.valid_before,
    cert: join(dir, `${name}.crt`),
    key: join(dir, `${name}.key`),
    ca: join(dir, 'ca.crt'),
    service: `gatehouse-${name}`,
    ...(issued.protocol === 'mysql' ? { option_file: join(dir, `${name}.cnf`) } : {}),
  };
  for (const [path, pem] of [
    [login.key, issued.key],
    [login.cert, issued.certificate],
    [login.ca, issued.ca],
  ]) {
    writeFileSync(path, pem, { mode: 0o600 });
    chmodSync(path, 0o600);
  }
  writeJsonFile(join(dir, `${name}.json`), login);
  if (login.option_file) {
    const [host, port] = splitHostPort(login.address);
    const file = mysqlOptionFile({
      host,
      port,
      user: login.db_user ?? undefined,
      database: login.db_name ?? undefined,
      ca: login.ca,
      cert: login.cert,
      key: login.key,
    });
    writeFileSync(login.option_file, file, { mode: 0o600 });
    chmodSync(login.option_file, 0o600);
  }
  if (login.protocol === 'postgres') {
    const path = serviceFile();
    const existing = existsSync(path) ? readFileSync(path, 'utf8') : '';
    writeFileSync(path, mergeServiceEntry(existing, login.service, connParams(login)), { mode: 0o600 });
  }
  return login;
}

/** The stored login for NAME when it is still good for a minute and matches the request; else a fresh one. */
async function currentLogin(values: { server?: string; token?: string }, name: string, requested: { user?: string; dbName?: string }): Promise<Login> {
  const saved = readJsonFile<Login>(join(dbDir(), `${name}.json`));
  const fresh =
    saved &&
    existsSync(saved.cert) &&
    new X509Certificate(readFileSync(saved.cert)).validTo &&
    Date.parse(new X509Certificate(readFileSync(saved.cert)).validTo) - Date.now() > 60_000 &&
    (requested.user === undefined || requested.user === saved.db_user) &&
    (requested.dbName === undefined || requested.dbName === saved.db_name);
  return fresh ? saved : dbLogin(await gatewayCredentials(values), name, requested);
}

const psqlCommand = (login: Login, override: { user?: string; name?: string } = {}) => `psql "${conninfo(connParams(login, override))}"`;

/** The MySQL client here: `mariadb`, else `mysql` (MariaDB's or Oracle's, which verify the server with other flags). */
function mysqlClient(): { program: string; mariadb: boolean } {
  for (const program of ['mariadb', 'mysql']) {
    const version = spawnSync(program, ['--version'], { encoding: 'utf8', timeout: 10_000 });
    if (version.status === 0) return { program, mariadb: /mariadb/i.test(version.stdout) };
  }
  throw new UsageError('neither mariadb nor mysql is installed (Debian: apt install mariadb-client)');
}

/** mariadb/mysql arguments for a login: its option file first (the clients require it there), then the overrides. */
const mysqlArgs = (login: Login, mariadb: boolean, override: { user?: string; name?: string } = {}) => [
  `--defaults-extra-file=${login.option_file}`,
  ...verifyFlags(mariadb),
  ...(override.user ? [`--user=${override.user}`] : []),
  ...(override.name ? [`--database=${override.name}`] : []),
];

export async function dbCommand(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (!sub || sub === '-h' || sub === '--help') {
    process.stdout.write(`${USAGE}\n`);
    return sub ? 0 : 64;
  }
  const dashdash = rest.indexOf('--');
  const { positionals, values } = parseArgs({
    args: dashdash >= 0 ? rest.slice(0, dashdash) : rest,
    allowPositionals: true,
    options: {
      server: { type: 'string' },
      token: { type: 'string' },
      'db-user': { type: 'string' },
      'db-name': { type: 'string' },
      port: { type: 'string' },
      json: { type: 'boolean' },
    },
  });
  const requested = { user: values['db-user'], dbName: values['db-name'] };
  const needName = () => {
    if (positionals.length !== 1) throw new UsageError(`say which database: gatehouse db ${sub} NAME`);
    return positionals[0];
  };
  switch (sub) {
    case 'ls': {
      const { databases, address } = await gatewayApi<{
        databases: { name: string; protocol: string; labels: Record<string, string>; users: string[]; names: string[] }[];
        address: string;
      }>(await gatewayCredentials(values), '/api/v1/db/databases');
      if (values.json) process.stdout.write(`${JSON.stringify({ databases, address }, null, 2)}\n`);
      else if (!databases.length) process.stdout.write('No database is open to you.\n');
      else
        for (const d of databases)
          process.stdout.write(
            `${d.name}  ${d.protocol}  users: ${d.users.join(', ')}  names: ${d.names.join(', ') || '-'}  ${Object.entries(d.labels)
              .map(([k, v]) => `${k}=${v}`)
              .join(',')}\n`,
          );
      return 0;
    }
    case 'login': {
      const login = await dbLogin(await gatewayCredentials(values), needName(), requested);
      process.stdout.write(
        `Certificate for ${login.database} valid until ${login.valid_before}, in ${dbDir()}.\n` +
          (login.protocol === 'postgres'
            ? `Service "${login.service}" in ${serviceFile()}:\n  psql "service=${login.service}"\nor:\n  ${psqlCommand(login)}\n`
            : login.option_file
              ? `Option file ${login.option_file}:\n  mariadb ${mysqlArgs(login, true).join(' ')}\n(Oracle's mysql: ${mysqlArgs(login, false).join(' ')})\n`
              : ''),
      );
      return 0;
    }
    case 'connect': {
      const login = await currentLogin(values, needName(), requested);
      const extra = dashdash >= 0 ? rest.slice(dashdash + 1) : [];
      const override = { user: requested.user, name: requested.dbName };
      let child;
      if (login.protocol === 'mysql') {
        if (!login.option_file) throw new UsageError(`run \`gatehouse db login ${login.database}\` again: the saved login has no option file`);
        const client = mysqlClient();
        child = spawn(client.program, [...mysqlArgs(login, client.mariadb, override), ...extra], { stdio: 'inherit' });
      } else child = spawn('psql', [conninfo(connParams(login, override)), ...extra], { stdio: 'inherit' });
      // Ctrl-C is the client's (psql sends a cancel request, mariadb a KILL QUERY): this process must not die of it first.
      const ignore = () => {};
      process.on('SIGINT', ignore);
      return new Promise((resolve) =>
        child.on('close', (code, signal) => {
          process.off('SIGINT', ignore);
          resolve(code ?? (signal ? 130 : 1));
        }),
      );
    }
    case 'proxy': {
      const port = Number(values.port);
      if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError('say which local port: --port P');
      const name = needName();
      const login = () => currentLogin(values, name, requested);
      const { protocol } = await login();
      const tunnel = protocol === 'mysql' ? mysqlTunnel : postgresTunnel;
      const server = createServer((socket) => tunnel(socket, login));
      await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
      const bound = (server.address() as { port: number }).port;
      const user = requested.user ? ` user=${requested.user}` : '';
      const example =
        protocol === 'mysql'
          ? `mariadb --host=127.0.0.1 --port=${bound} --skip-ssl${requested.user ? ` --user=${requested.user}` : ''}${requested.dbName ? ` --database=${requested.dbName}` : ''}`
          : `psql "host=127.0.0.1 port=${bound} sslmode=disable${user}"`;
      process.stdout.write(`Tunnel to ${name} on 127.0.0.1:${bound} (no TLS locally; anyone on this machine can use it while it runs).\n  ${example}\n`);
      return -1; // keeps running
    }
    default:
      throw new UsageError(USAGE);
  }
}
