// The docker-compose stack (docker-compose.yml) as processes on 127.0.0.1, derived from the compose
// file itself: each service's command and environment are read from it, and only network
// addresses are changed, in ONE place (deriveGatewayConfig and mapComposeAddress below):
//
//   compose                        here
//   gatehouse  0.0.0.0:8080        127.0.0.1:<free>  (public_url http://localhost:8080 → http://127.0.0.1:<free>)
//              0.0.0.0:3022        127.0.0.1:<free>  (public_addr localhost:3022 likewise)
//   redis:6379                     127.0.0.1:<free>  (redis-server with the service's `command`)
//   postgres:5432                  127.0.0.1:<free>  (a new initdb with POSTGRES_HOST_AUTH_METHOD's trust)
//   keycloak.localhost:8081        the run's shared Keycloak (http://127.0.0.1:<port>, its KC_HOSTNAME)
//   whoami:80, ssh-node:22         an upstream app and an sshd on free ports
//   /var/lib/gatehouse             a temp dir (the recordings volume stays nested under it)
//
// 127.0.0.1 rather than the compose names: Node's resolver does not resolve `*.localhost` (glibc
// has no RFC 6761 rule), and Keycloak's loopback rule (any port for http://127.0.0.1 redirect
// URIs) is what lets the realm's clients accept a gateway on a free port.
import { spawnSync } from 'node:child_process';
import { chownSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { ensureTestAccount } from '../../../scripts/test-services.mjs';
import { eventually, giveUp } from '../eventually.js';
import { closedPort, tcpReachable } from '../peers/services.js';
import { postgresBin } from '../peers/postgres-server.js';
import { startChild, type Child } from '../processes.js';
import { REPO_ROOT } from './demo-cli.js';

export interface ComposeService {
  image?: string;
  build?: string | { context: string };
  command?: string[];
  depends_on?: string[];
  ports?: string[];
  volumes?: string[];
  environment?: Record<string, string>;
  networks?: Record<string, { aliases?: string[] }>;
}

export interface ComposeFile {
  services: Record<string, ComposeService>;
  volumes?: Record<string, unknown>;
}

export const readCompose = (): ComposeFile => parse(readFileSync(join(REPO_ROOT, 'docker-compose.yml'), 'utf8')) as ComposeFile;

/** The variable names .env.example documents (what `docker compose` reads from .env). */
export const envExampleNames = (): string[] =>
  readFileSync(join(REPO_ROOT, '.env.example'), 'utf8')
    .split('\n')
    .filter((l) => /^[A-Z_]+=/.test(l))
    .map((l) => l.split('=')[0]);

/** `${NAME:?message}` / `${NAME}` in a compose environment value, resolved from `env` as compose does. */
export function composeValue(value: string, env: Record<string, string>): string {
  return value.replace(/\$\{([A-Z_]+)(?::[?-][^}]*)?\}/g, (_, name: string) => {
    if (env[name] === undefined) throw new Error(`compose needs ${name}`);
    return env[name];
  });
}

/** The addresses of this run's stand-ins for the compose services. */
export interface StackAddresses {
  gatewayPort: number;
  sshPort: number;
  redisPort: number;
  postgresPort: number;
  /** The Keycloak the stack uses, as its KC_HOSTNAME (scheme, host, port). */
  keycloakUrl: string;
  whoamiPort: number;
  sshNodePort: number;
  dataDir: string;
}

/** The compose network's address (host:port, or a URL's origin) → this run's. Anything else is a bug in the caller. */
export function mapComposeAddress(address: string, a: StackAddresses): string {
  const table: Record<string, string> = {
    '0.0.0.0:8080': `127.0.0.1:${a.gatewayPort}`,
    'localhost:8080': `127.0.0.1:${a.gatewayPort}`,
    '0.0.0.0:3022': `127.0.0.1:${a.sshPort}`,
    'localhost:3022': `127.0.0.1:${a.sshPort}`,
    'redis:6379': `127.0.0.1:${a.redisPort}`,
    'postgres:5432': `127.0.0.1:${a.postgresPort}`,
    'keycloak.localhost:8081': new URL(a.keycloakUrl).host,
    'whoami:80': `127.0.0.1:${a.whoamiPort}`,
    'ssh-node:22': `127.0.0.1:${a.sshNodePort}`,
  };
  const url = /^(\w+:\/\/)(?:([^/@]*)@)?([^/]+)(.*)$/.exec(address);
  const hostPort = url ? url[3] : address;
  const mapped = table[hostPort] ?? giveUp(`no mapping for the compose address ${hostPort}`);
  return url ? `${url[1]}${url[2] !== undefined ? `${url[2]}@` : ''}${mapped}${url[4]}` : mapped;
}

type Raw = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any -- the YAML tree as written

/** The data dirs the compose volumes mount, and where they are here. */
const dataPath = (path: string, a: StackAddresses) => {
  if (!path.startsWith('/var/lib/gatehouse')) giveUp(`unexpected data path ${path}`);
  return a.dataDir + path.slice('/var/lib/gatehouse'.length);
};

/**
 * The compose Gatehouse config with only its network addresses and data dirs changed. The SAML
 * connector's sp_entity_id is an identifier, not an address: it stays, so the realm's SAML client
 * (that entity id) is the one used.
 */
export function deriveGatewayConfig(compose: Raw, a: StackAddresses): Raw {
  const c = structuredClone(compose);
  const map = (v: string) => mapComposeAddress(v, a);
  c.server.public_url = map(c.server.public_url);
  c.server.listen = map(c.server.listen);
  c.state.redis_url = map(c.state.redis_url);
  c.state.data_dir = dataPath(c.state.data_dir, a);
  for (const connector of c.connectors) {
    if (connector.issuer) connector.issuer = map(connector.issuer);
    if (connector.idp_metadata_url) connector.idp_metadata_url = map(connector.idp_metadata_url);
  }
  for (const app of c.apps) app.upstream = map(app.upstream);
  c.ssh.listen = map(c.ssh.listen);
  c.ssh.public_addr = map(c.ssh.public_addr);
  for (const node of c.ssh.nodes) node.addr = map(node.addr);
  c.recordings.dir = dataPath(c.recordings.dir, a);
  c.audit.postgres_url = map(c.audit.postgres_url);
  return c;
}

/**
 * The tree with every address masked: a URL's host:port, a bare host:port, and the values of
 * `dir`/`data_dir` keys. Two configs that are equal masked differ in addresses only.
 */
export function maskAddresses(value: unknown, key = ''): unknown {
  if (Array.isArray(value)) return value.map((v) => maskAddresses(v));
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, maskAddresses(v, k)]));
  if (typeof value !== 'string') return value;
  if (key === 'dir' || key === 'data_dir') return '<dir>';
  const url = /^(\w+:\/\/)((?:[^/@]*@)?)([^/]+)(.*)$/.exec(value);
  if (url) return `${url[1]}${url[2]}<addr>${url[4]}`;
  return /^[\w.-]+:\d+$/.test(value) ? '<addr>' : value;
}

/** The Keycloak service as the compose file runs it, addresses mapped: its kc.sh arguments and environment. */
export function composeKeycloak(compose: ComposeFile, a: StackAddresses, env: Record<string, string>) {
  const kc = compose.services.keycloak;
  const [mode, ...flags] = kc.command ?? [];
  const port = flags.find((f) => f.startsWith('--http-port='));
  const environment = Object.fromEntries(Object.entries(kc.environment ?? {}).map(([k, v]) => [k, composeValue(v, env)]));
  environment.KC_HOSTNAME = mapComposeAddress(environment.KC_HOSTNAME, a);
  const realmDir = (kc.volumes ?? []).find((v) => v.endsWith(':/opt/keycloak/data/import:ro'))?.split(':')[0];
  return { mode, flags, port: Number(port?.split('=')[1]), environment, realmDir, version: kc.image?.split(':').pop() };
}

/** redis-server with the compose service's arguments, on a free port in its own dir (the compose volume /data). */
export async function startComposeRedis(bin: string, compose: ComposeFile): Promise<{ port: number; dir: string; stop(): Promise<void> }> {
  const [command, ...args] = compose.services.redis.command ?? [];
  if (command !== 'redis-server') giveUp(`the redis service runs ${command}`);
  const port = await closedPort();
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-compose-redis-'));
  const child = startChild(bin, [...args, '--port', String(port), '--bind', '127.0.0.1', '--dir', dir], { stdio: 'ignore' });
  await eventually(() => tcpReachable('127.0.0.1', port, 200), { timeoutMs: 20_000, message: `redis-server did not listen on ${port}` });
  return {
    port,
    dir,
    async stop() {
      await child.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * A new PostgreSQL cluster, as the postgres image's entrypoint makes one: superuser `postgres`,
 * database `postgres`, and POSTGRES_HOST_AUTH_METHOD for every TCP login (`host all all all trust`).
 * Runs as the test account (PostgreSQL refuses root).
 */
export async function startComposePostgres(compose: ComposeFile): Promise<{ port: number; psql(sql: string): string; stop(): Promise<void> }> {
  const method = compose.services.postgres.environment?.POSTGRES_HOST_AUTH_METHOD;
  if (!method) giveUp('the postgres service sets no POSTGRES_HOST_AUTH_METHOD');
  const bin = postgresBin() ?? giveUp('PostgreSQL server binaries not found under /usr/lib/postgresql');
  const account = ensureTestAccount() as { uid: number; gid: number; asUser: string[] };
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-compose-pg-'));
  if (process.getuid?.() === 0) chownSync(dir, account.uid, account.gid);
  const data = join(dir, 'data');
  const as = (command: string, args: string[]) => {
    const [exe, ...rest] = [...account.asUser, command, ...args];
    const r = spawnSync(exe, rest, { encoding: 'utf8', cwd: dir });
    if (r.status !== 0) throw new Error(`${command} failed: ${r.stderr}`);
    return r.stdout;
  };
  as(join(bin, 'initdb'), ['-D', data, '-U', 'postgres', '-A', method, '-E', 'UTF8', '--no-sync']);
  writeFileSync(join(data, 'pg_hba.conf'), `local all all trust\nhost all all all ${method}\n`);
  const port = await closedPort();
  const postgres = [...account.asUser, join(bin, 'postgres')];
  const child: Child = startChild(
    postgres[0],
    [...postgres.slice(1), '-D', data, '-p', String(port), '-k', dir, '-c', 'listen_addresses=127.0.0.1', '-c', 'fsync=off'],
    { stdio: 'ignore', cwd: dir },
  );
  await eventually(() => tcpReachable('127.0.0.1', port), { timeoutMs: 30_000, intervalMs: 100, message: 'PostgreSQL did not start' });
  return {
    port,
    psql: (sql) => as('psql', ['-X', '-q', '-t', '-A', '-h', dir, '-p', String(port), '-U', 'postgres', '-d', 'postgres', '-c', sql]),
    async stop() {
      await child.stop(10_000);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface ComposeGatehouse extends Child {
  /** pino's JSON lines so far. */
  lines(): Record<string, unknown>[];
  output(): string;
}

/** `gatehouse serve` as the image runs it (GATEHOUSE_CONFIG and the service's environment); ready at "gatehouse is listening". */
export async function startComposeGatehouse(env: Record<string, string>): Promise<ComposeGatehouse> {
  const childEnv: NodeJS.ProcessEnv = { ...process.env, LOG_LEVEL: 'info', ...env };
  delete childEnv.GATEHOUSE_LISTEN;
  delete childEnv.GATEHOUSE_DATA_DIR;
  const argv = ['--import', import.meta.resolve('tsx'), join(REPO_ROOT, 'src/cli/main.ts'), 'serve'];
  const started = startChild(process.execPath, argv, { cwd: REPO_ROOT, env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  started.child.stdout?.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  started.child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const lines = () =>
    stdout
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  const output = () => `--- stdout ---\n${stdout.slice(-20_000)}\n--- stderr ---\n${stderr.slice(-20_000)}`;
  await eventually(
    () => {
      if (started.child.exitCode !== null || started.child.signalCode !== null) giveUp(`gatehouse serve exited\n${output()}`);
      return lines().some((l) => l.msg === 'gatehouse is listening');
    },
    { timeoutMs: 90_000, message: () => `gatehouse serve did not say it is listening\n${output()}` },
  );
  return { ...started, lines, output };
}
