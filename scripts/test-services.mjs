// The services the test suite needs, started by `npm test` itself on free 127.0.0.1 ports, each in
// its own process group and temporary directory, and stopped (as a group) when the run ends:
//
//   redis-server             GATEHOUSE_TEST_REDIS_URL   redis://127.0.0.1:P
//   PostgreSQL (initdb)      GATEHOUSE_TEST_PG_URL      postgres://postgres@127.0.0.1:P/test
//   MariaDB (install-db)     GATEHOUSE_TEST_MYSQL_URL   mysql://root@127.0.0.1:P/
//   Keycloak (start-dev)     GATEHOUSE_TEST_KEYCLOAK_URL   http://127.0.0.1:P, plus _ADMIN_USER, _ADMIN_PASSWORD,
//                            _CLIENT_SECRET, _ALICE_PASSWORD, _BOB_PASSWORD (scripts/test-keycloak.mjs)
//
// Keycloak starts only when asked (`{ keycloak: true }`: the runner asks when a selected file needs
// it), alongside the others since it is by far the slowest. A variable that is already set points
// the suite at an existing server instead, and nothing is started for it (for Keycloak, set all
// its variables). A server that does not come up fails the run at once, with its log.
//
// Also the SSH test account: sshd in the tests logs in `gatehouse-test`, an unprivileged user with
// /bin/sh and an empty home (no rc files of the machine's accounts), created here when we are root.
// PostgreSQL and MariaDB refuse to run as root, so as root they run as that user too.
import { spawn, spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import path from 'node:path';
import { startKeycloak } from './test-keycloak.mjs';

export const TEST_USER = 'gatehouse-test';
const START_DEADLINE_MS = 60_000;
const isRoot = process.getuid?.() === 0;

/** Starts what is not given by the environment; returns the variables to export and a stop(). */
export async function startTestServices(log = (line) => console.log(line), options = {}) {
  const account = ensureTestAccount();
  const env = { GATEHOUSE_TEST_SSH_LOGIN: account.name };
  const started = [];
  const stop = async () => {
    await Promise.all(started.map((s) => s.stop()));
  };
  const launch = async (service) => {
    if (process.env[service.variable]) return log(`services: ${service.name} from ${service.variable}`);
    const t0 = Date.now();
    const s = await service.start(account);
    started.push(s);
    Object.assign(env, { [service.variable]: s.url }, s.env);
    log(`services: ${service.name} at ${s.url} (${Date.now() - t0} ms${s.detail ? `, ${s.detail}` : ''})`);
  };
  // Keycloak boots in the background for the whole run (its tests wait on its state file); the
  // others start one after the other, and the run begins once they answer.
  if (options.keycloak && process.env[KEYCLOAK.variable]) log(`services: keycloak from ${KEYCLOAK.variable}`);
  else if (options.keycloak) {
    const t0 = Date.now();
    const s = await KEYCLOAK.start(account);
    started.push(s);
    Object.assign(env, s.env);
    s.ready.then(
      (detail) => log(`services: keycloak at ${s.url} ready (${Date.now() - t0} ms, ${detail})`),
      (err) => log(`services: keycloak did not start; its tests fail: ${err.message}`),
    );
    log(`services: keycloak starting at ${s.url}`);
  }
  try {
    for (const service of SERVICES) await launch(service);
  } catch (err) {
    await stop();
    throw err;
  }
  return { env, stop };
}

const SERVICES = [
  { name: 'redis', variable: 'GATEHOUSE_TEST_REDIS_URL', start: startRedis },
  { name: 'postgresql', variable: 'GATEHOUSE_TEST_PG_URL', start: startPostgres },
  { name: 'mariadb', variable: 'GATEHOUSE_TEST_MYSQL_URL', start: startMariadb },
];
const KEYCLOAK = {
  name: 'keycloak',
  variable: 'GATEHOUSE_TEST_KEYCLOAK_URL',
  start: (account) =>
    startKeycloak({
      daemon: (command, args, options) => daemon(account, command, args, { ...options, asUser: false }),
      freePort,
      waitReady,
    }),
};

// --- the test account ------------------------------------------------------------------------------

/** The account services and SSH logins run as: gatehouse-test when root (created here), else us. */
export function ensureTestAccount() {
  if (!isRoot) {
    const me = userInfo();
    return { name: me.username, uid: me.uid, gid: me.gid, asUser: [] };
  }
  const home = `/var/lib/${TEST_USER}`;
  if (spawnSync('id', ['-u', TEST_USER]).status !== 0) {
    const add = spawnSync(
      'useradd',
      ['--system', '--user-group', '--home-dir', home, '--create-home', '--skel', '/dev/null', '--shell', '/bin/sh', TEST_USER],
      { encoding: 'utf8' },
    );
    if (add.status !== 0) throw new Error(`could not create the test user ${TEST_USER}: ${add.stderr || add.error}`);
  }
  // '*' rather than useradd's '!': sshd without PAM refuses a locked account even for certificates.
  spawnSync('usermod', ['-p', '*', TEST_USER]);
  mkdirSync(home, { recursive: true, mode: 0o755 });
  for (const entry of readdirSync(home)) if (entry.startsWith('.')) rmSync(path.join(home, entry), { recursive: true, force: true });
  const uid = Number(spawnSync('id', ['-u', TEST_USER], { encoding: 'utf8' }).stdout);
  const gid = Number(spawnSync('id', ['-g', TEST_USER], { encoding: 'utf8' }).stdout);
  chownSync(home, uid, gid);
  return { name: TEST_USER, uid, gid, asUser: ['setpriv', `--reuid=${uid}`, `--regid=${gid}`, '--clear-groups', '--'] };
}

/** A temporary directory the account owns. */
function serviceDir(account, name) {
  const dir = mkdtempSync(path.join(tmpdir(), `gatehouse-${name}-`));
  if (isRoot) chownSync(dir, account.uid, account.gid);
  return dir;
}

// --- processes -------------------------------------------------------------------------------------

/** A child in its own process group whose output is kept for the error message. */
function daemon(account, command, args, options = {}) {
  const [bin, ...rest] = [...(options.asUser === false ? [] : account.asUser), command, ...args];
  const child = spawn(bin, rest, { detached: true, stdio: ['ignore', 'pipe', 'pipe'], cwd: options.cwd, env: options.env });
  let output = '';
  const keep = (d) => {
    output = (output + d.toString()).slice(-8000);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.once('error', (err) => keep(`${err.message}\n`));
  return {
    child,
    output: () => output,
    exited: () => child.exitCode !== null || child.signalCode !== null,
    async kill() {
      if (child.exitCode !== null || child.signalCode !== null || !child.pid) return;
      signalGroup(child.pid, 'SIGTERM');
      const timer = setTimeout(() => signalGroup(child.pid, 'SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
      signalGroup(child.pid, 'SIGKILL'); // anything the leader left behind
    },
  };
}

function signalGroup(pid, signal) {
  try {
    process.kill(-pid, signal);
  } catch {
    // already gone
  }
}

function run(account, command, args, what) {
  const [bin, ...rest] = [...account.asUser, command, ...args];
  const r = spawnSync(bin, rest, { encoding: 'utf8', timeout: START_DEADLINE_MS });
  if (r.status !== 0) throw new Error(`${what} failed (${r.status ?? r.signal ?? r.error}):\n${r.stdout}${r.stderr}`);
}

async function freePort() {
  const server = createServer();
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

function tcpReachable(port) {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    const done = (ok) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(500, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/** Waits for ready() or fails at once when the process exits, or at the deadline. */
async function waitReady(name, proc, ready, deadlineMs = START_DEADLINE_MS) {
  const deadline = Date.now() + deadlineMs;
  for (;;) {
    if (await ready().catch(() => false)) return;
    if (proc.exited()) throw new Error(`${name} exited before it was ready:\n${proc.output()}`);
    if (Date.now() > deadline) {
      await proc.kill();
      throw new Error(`${name} was not ready after ${deadlineMs / 1000} s:\n${proc.output()}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

function which(name, extraDirs = []) {
  for (const dir of [...extraDirs, ...(process.env.PATH ?? '').split(':'), '/usr/sbin', '/sbin']) {
    const candidate = path.join(dir, name);
    if (dir && existsSync(candidate)) return candidate;
  }
  throw new Error(`${name} is not installed (bash .ci/run installs it)`);
}

function withCleanup(proc, dir) {
  return async () => {
    await proc.kill();
    rmSync(dir, { recursive: true, force: true });
  };
}

// --- the services ----------------------------------------------------------------------------------

async function startRedis(account) {
  const bin = which('redis-server');
  const dir = serviceDir(account, 'redis');
  const port = await freePort();
  const proc = daemon(account, bin, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], { asUser: false });
  await waitReady('redis-server', proc, () => tcpReachable(port));
  return { url: `redis://127.0.0.1:${port}`, stop: withCleanup(proc, dir) };
}

function postgresBinDir() {
  const base = '/usr/lib/postgresql';
  if (existsSync(base)) {
    const versions = readdirSync(base).filter((v) => existsSync(path.join(base, v, 'bin', 'initdb')));
    versions.sort((a, b) => Number(b) - Number(a));
    if (versions[0]) return path.join(base, versions[0], 'bin');
  }
  return path.dirname(which('initdb'));
}

async function startPostgres(account) {
  const bin = postgresBinDir();
  const dir = serviceDir(account, 'postgres');
  const data = path.join(dir, 'data');
  run(account, path.join(bin, 'initdb'), ['-D', data, '-U', 'postgres', '-A', 'trust', '-E', 'UTF8', '--no-sync'], 'initdb');
  const port = await freePort();
  const proc = daemon(account, path.join(bin, 'postgres'), [
    '-D',
    data,
    '-p',
    String(port),
    '-k',
    dir,
    '-c',
    'listen_addresses=127.0.0.1',
    '-c',
    'fsync=off',
    '-c',
    'synchronous_commit=off',
    '-c',
    'full_page_writes=off',
    '-c',
    'max_connections=300',
  ]);
  const { default: pg } = await import('pg');
  const admin = `postgres://postgres@127.0.0.1:${port}/postgres`;
  await waitReady('postgres', proc, async () => {
    const client = new pg.Client({ connectionString: admin, connectionTimeoutMillis: 1000 });
    try {
      await client.connect();
      await client.query('SELECT 1');
      return true;
    } finally {
      await client.end().catch(() => {});
    }
  });
  const client = new pg.Client({ connectionString: admin });
  await client.connect();
  await client.query('CREATE DATABASE test');
  await client.end();
  return { url: `postgres://postgres@127.0.0.1:${port}/test`, stop: withCleanup(proc, dir) };
}

async function startMariadb(account) {
  const installDb = which('mariadb-install-db');
  const server = which('mariadbd');
  const admin = which('mariadb-admin');
  const dir = serviceDir(account, 'mariadb');
  const data = path.join(dir, 'data');
  const socket = path.join(dir, 's');
  run(
    account,
    installDb,
    ['--no-defaults', `--datadir=${data}`, '--auth-root-authentication-method=normal', '--skip-test-db', `--user=${account.name}`],
    'mariadb-install-db',
  );
  const port = await freePort();
  const proc = daemon(account, server, [
    '--no-defaults',
    `--datadir=${data}`,
    `--port=${port}`,
    `--socket=${socket}`,
    '--bind-address=127.0.0.1',
    `--pid-file=${path.join(dir, 'mariadbd.pid')}`,
    '--skip-name-resolve=0',
    '--innodb-flush-log-at-trx-commit=0',
    '--skip-log-bin',
  ]);
  const ping = () => spawnSync(admin, ['--no-defaults', '-h', '127.0.0.1', '-P', String(port), '-u', 'root', 'ping'], { timeout: 5000 }).status === 0;
  await waitReady('mariadbd', proc, async () => ping());
  return { url: `mysql://root@127.0.0.1:${port}/`, stop: withCleanup(proc, dir) };
}

/** For `node scripts/test-services.mjs [--keycloak]`: start everything, print the variables, stop on Ctrl-C. */
if (import.meta.url === `file://${process.argv[1]}`) {
  const { env, stop } = await startTestServices(undefined, { keycloak: process.argv.includes('--keycloak') });
  for (const [k, v] of Object.entries(env)) console.log(`export ${k}=${v}`);
  console.log('# Ctrl-C stops them');
  const shutdown = () => stop().then(() => process.exit(0));
  process.on('SIGINT', shutdown).on('SIGTERM', shutdown);
  setInterval(() => {}, 1 << 30);
}
