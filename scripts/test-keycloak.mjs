// Keycloak for the tests, started by scripts/test-services.mjs only when a selected test file needs
// it (needsKeycloak), once per run, and shared by every file:
//
// - The pinned server distribution that scripts/fetch-peers.sh installs (its KEYCLOAK_VERSION) under
//   GATEHOUSE_PEERS_DIR (default ~/.cache/gatehouse-peers). The cache is never written: Keycloak runs
//   from a temporary home that copies the small parts (kc.sh, conf, lib/app, lib/quarkus) and links
//   the jars (lib/lib). The dev-mode build Quarkus makes at the first start-dev ("augmentation",
//   ~15 s) is kept beside the distribution (keycloak-<v>.dev-build/) and reused by later runs.
// - `kc.sh start-dev --import-realm` on a free 127.0.0.1 port, importing config/keycloak/gatehouse-realm.json,
//   the file docker compose imports. Its ${ENV} references (client secret, demo passwords) and the
//   bootstrap admin's password are generated here, for this run only.
// - Java 21 or newer: JAVA_HOME when it is one, else the newest such JDK under /usr/lib/jvm, else
//   `java` on PATH.
// - Ready when the realm's discovery document answers with the expected issuer (not after a sleep).
//   The run does not wait for it: the other files start while Keycloak boots, and the state file
//   GATEHOUSE_TEST_KEYCLOAK_STATE says `starting`, `ready` or `failed` and why, which the tests'
//   requireKeycloak waits on.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const KEYCLOAK_REALM = 'gatehouse';
const REALM_FILE = path.join(root, 'config', 'keycloak', 'gatehouse-realm.json');
const MIN_JAVA = 21;
/** Keycloak's first start on a busy 2-core machine takes 30-90 s. */
export const KEYCLOAK_START_DEADLINE_MS = 240_000;

/** Whether any of these test files (paths relative to the repository) needs Keycloak. */
export function needsKeycloak(files) {
  return files.some((file) => {
    if (/keycloak/i.test(file)) return true;
    try {
      return readFileSync(path.join(root, file), 'utf8').includes('helpers/peers/keycloak.js');
    } catch {
      return false;
    }
  });
}

/** The version scripts/fetch-peers.sh pins (one pin for both). */
export function keycloakVersion() {
  const m = /^KEYCLOAK_VERSION=(\S+)$/m.exec(readFileSync(path.join(root, 'scripts', 'fetch-peers.sh'), 'utf8'));
  if (!m) throw new Error('scripts/fetch-peers.sh pins no KEYCLOAK_VERSION');
  return m[1];
}

const peersDir = () => process.env.GATEHOUSE_PEERS_DIR || path.join(homedir(), '.cache', 'gatehouse-peers');

/** The major version of the JDK at `home` (its `release` file, else `bin/java -version`), or 0. */
function javaMajor(home) {
  try {
    const m = /^JAVA_VERSION="(\d+)(?:\.(\d+))?/m.exec(readFileSync(path.join(home, 'release'), 'utf8'));
    if (m) return Number(m[1]) === 1 ? Number(m[2]) : Number(m[1]);
  } catch {
    // no release file: ask the binary
  }
  const run = spawnSync(path.join(home, 'bin', 'java'), ['-version'], { encoding: 'utf8', timeout: 20_000 });
  const m = /version "(\d+)(?:\.(\d+))?/.exec(`${run.stderr}${run.stdout}`);
  if (!m) return 0;
  return Number(m[1]) === 1 ? Number(m[2]) : Number(m[1]);
}

/** A JDK home with Java 21+: JAVA_HOME, else the newest under `jvmDir`, else the one `java` on PATH belongs to. */
export function findJavaHome(env = process.env, jvmDir = '/usr/lib/jvm') {
  const tried = [];
  if (env.JAVA_HOME) {
    const major = javaMajor(env.JAVA_HOME);
    if (major >= MIN_JAVA) return env.JAVA_HOME;
    tried.push(`JAVA_HOME=${env.JAVA_HOME} is Java ${major || 'unknown'}`);
  }
  if (existsSync(jvmDir)) {
    const homes = readdirSync(jvmDir)
      .map((name) => path.join(jvmDir, name))
      .filter((home) => existsSync(path.join(home, 'bin', 'java')))
      .map((home) => ({ home, major: javaMajor(home) }))
      .sort((a, b) => b.major - a.major);
    if (homes[0]?.major >= MIN_JAVA) return homes[0].home;
    tried.push(`${jvmDir} has ${homes.map((h) => `Java ${h.major}`).join(', ') || 'no JDK'}`);
  }
  const which = spawnSync('/bin/sh', ['-c', 'readlink -f "$(command -v java)"'], { encoding: 'utf8', env });
  const onPath = which.status === 0 && which.stdout.trim() ? path.dirname(path.dirname(which.stdout.trim())) : undefined;
  if (onPath && javaMajor(onPath) >= MIN_JAVA) return onPath;
  throw new Error(
    `Keycloak needs Java ${MIN_JAVA} or newer and none was found (${tried.join('; ') || 'no JAVA_HOME'}); bash scripts/fetch-peers.sh says how to install one`,
  );
}

/** A Keycloak home in a temp dir: copies of what Keycloak writes or resolves relative to itself, links to the jars. */
function prepareHome(dist, devBuild) {
  const home = mkdtempSync(path.join(tmpdir(), 'gatehouse-keycloak-'));
  mkdirSync(path.join(home, 'bin'));
  cpSync(path.join(dist, 'bin', 'kc.sh'), path.join(home, 'bin', 'kc.sh'));
  for (const part of ['conf', 'themes', 'providers', 'version.txt']) {
    if (existsSync(path.join(dist, part))) cpSync(path.join(dist, part), path.join(home, part), { recursive: true });
  }
  mkdirSync(path.join(home, 'lib'));
  cpSync(path.join(dist, 'lib', 'app'), path.join(home, 'lib', 'app'), { recursive: true });
  cpSync(path.join(dist, 'lib', 'quarkus-run.jar'), path.join(home, 'lib', 'quarkus-run.jar'));
  cpSync(existsSync(devBuild) ? devBuild : path.join(dist, 'lib', 'quarkus'), path.join(home, 'lib', 'quarkus'), { recursive: true });
  symlinkSync(path.join(dist, 'lib', 'lib'), path.join(home, 'lib', 'lib'));
  mkdirSync(path.join(home, 'data', 'import'), { recursive: true });
  cpSync(REALM_FILE, path.join(home, 'data', 'import', path.basename(REALM_FILE)));
  return home;
}

/** Keeps this run's dev-mode build for the next runs (written aside, then renamed: never half there). */
function keepDevBuild(home, devBuild) {
  if (existsSync(devBuild)) return;
  const partial = `${devBuild}.${process.pid}.partial`;
  try {
    cpSync(path.join(home, 'lib', 'quarkus'), partial, { recursive: true });
    renameSync(partial, devBuild);
  } catch {
    rmSync(partial, { recursive: true, force: true }); // another run won the race, or no space: only costs time
  }
}

const secret = () => randomBytes(18).toString('base64url');

/**
 * Starts Keycloak. `deps` are test-services.mjs's process helpers: daemon(command, args, { env }),
 * freePort(), waitReady(name, proc, ready, deadlineMs). Returns at once with the variables the tests
 * read, stop(), and `ready`, which settles when Keycloak answers (its state file says so too).
 */
export async function startKeycloak(deps) {
  const version = keycloakVersion();
  const dist = path.join(peersDir(), `keycloak-${version}`);
  if (!existsSync(path.join(dist, 'bin', 'kc.sh'))) throw new Error(`Keycloak ${version} is not installed at ${dist} (run bash scripts/fetch-peers.sh)`);
  const javaHome = findJavaHome();
  const devBuild = path.join(peersDir(), `keycloak-${version}.dev-build`);
  const cachedBuild = existsSync(devBuild);
  const home = prepareHome(dist, devBuild);
  const port = await deps.freePort();
  const url = `http://127.0.0.1:${port}`;
  const stateFile = path.join(home, 'gatehouse-test-state');
  writeFileSync(stateFile, 'starting\n');
  const vars = {
    GATEHOUSE_TEST_KEYCLOAK_URL: url,
    GATEHOUSE_TEST_KEYCLOAK_STATE: stateFile,
    GATEHOUSE_TEST_KEYCLOAK_ADMIN_USER: 'admin',
    GATEHOUSE_TEST_KEYCLOAK_ADMIN_PASSWORD: secret(),
    GATEHOUSE_TEST_KEYCLOAK_CLIENT_SECRET: secret(),
    GATEHOUSE_TEST_KEYCLOAK_ALICE_PASSWORD: secret(),
    GATEHOUSE_TEST_KEYCLOAK_BOB_PASSWORD: secret(),
  };
  const env = {
    ...process.env,
    JAVA_HOME: javaHome,
    // Keycloak's own default outside containers; said here so the footprint is this file's choice.
    JAVA_OPTS_KC_HEAP: '-Xms64m -Xmx512m',
    KC_BOOTSTRAP_ADMIN_USERNAME: vars.GATEHOUSE_TEST_KEYCLOAK_ADMIN_USER,
    KC_BOOTSTRAP_ADMIN_PASSWORD: vars.GATEHOUSE_TEST_KEYCLOAK_ADMIN_PASSWORD,
    // The realm file's ${...} references, substituted by Keycloak at import.
    KEYCLOAK_CLIENT_SECRET: vars.GATEHOUSE_TEST_KEYCLOAK_CLIENT_SECRET,
    DEMO_ALICE_PASSWORD: vars.GATEHOUSE_TEST_KEYCLOAK_ALICE_PASSWORD,
    DEMO_BOB_PASSWORD: vars.GATEHOUSE_TEST_KEYCLOAK_BOB_PASSWORD,
  };
  const proc = deps.daemon(
    path.join(home, 'bin', 'kc.sh'),
    ['start-dev', '--import-realm', `--http-port=${port}`, '--http-host=127.0.0.1', `--hostname=${url}`],
    { env, cwd: home },
  );
  const stop = async () => {
    await proc.kill();
    rmSync(home, { recursive: true, force: true });
  };
  const discovery = `${url}/realms/${KEYCLOAK_REALM}/.well-known/openid-configuration`;
  const ready = (async () => {
    try {
      await deps.waitReady(
        'keycloak',
        proc,
        async () => {
          const res = await fetch(discovery, { signal: AbortSignal.timeout(2000) });
          return res.ok && (await res.json()).issuer === `${url}/realms/${KEYCLOAK_REALM}`;
        },
        KEYCLOAK_START_DEADLINE_MS,
      );
    } catch (err) {
      writeFileSync(stateFile, `failed\n${err.message}\n`);
      await proc.kill();
      // A kept build that does not start is dropped, so the next run builds afresh.
      if (cachedBuild) rmSync(devBuild, { recursive: true, force: true });
      throw err;
    }
    keepDevBuild(home, devBuild);
    writeFileSync(stateFile, 'ready\n');
    return `Keycloak ${version}, Java ${javaMajor(javaHome)}${cachedBuild ? ', kept dev build' : ', first dev build'}`;
  })();
  ready.catch(() => {}); // the caller reports it; an unobserved rejection must not end the run
  return { url, env: vars, stop, ready };
}
