#!/usr/bin/env node
// The `npm test` entry point.
//
//   npm test                      build, start the services, run every test/**/*.test.ts
//   npm test -- oidc saml         only files whose path contains "oidc" or "saml"
//   npm test -- --test-name-pattern=refresh   arguments starting with "-" go to `node --test`
//
// What it does:
// - Runs `npm run build` first (some e2e tests spawn dist/cli/main.js), unless GATEHOUSE_SKIP_BUILD
//   is set.
// - Starts Redis, PostgreSQL and MariaDB on free ports (scripts/test-services.mjs) unless
//   GATEHOUSE_TEST_REDIS_URL / _PG_URL / _MYSQL_URL name existing ones, and stops them at the end.
//   Keycloak too, but only when a selected file needs it (its path says `keycloak`, or it imports
//   test/helpers/peers/keycloak.ts) and GATEHOUSE_TEST_KEYCLOAK_URL names none. Keycloak boots in
//   the background while the first files run; the files that need it start a few rounds later.
// - Finds the test files itself (Node 20's `node --test` takes no globs; folders named `fixtures`
//   are left out), sorted, and runs them with `node --import tsx --test`, GATEHOUSE_TEST_CONCURRENCY
//   files at a time (default 3), the spec reporter on stdout and a TAP reporter into a temporary
//   file (or GATEHOUSE_TAP_FILE when set, e.g. to keep it as a CI artifact).
// - Starts the slowest files first, so that no long file starts last and runs alone: each file's
//   time from earlier runs on this machine is kept in GATEHOUSE_TEST_TIMES_CACHE (default
//   ~/.cache/gatehouse/test-times.json); a file with no time yet is guessed by its folder.
// - Nothing can hang it. Each test and hook times out after GATEHOUSE_TEST_TIMEOUT_S (default 120;
//   scripts/test-timeouts.mjs), each file after GATEHOUSE_TEST_FILE_TIMEOUT_S (default 600), and
//   the whole run after GATEHOUSE_TEST_DEADLINE_S (default 1200), when the runner's process group
//   is killed. At the end every process the tests left behind (found by a marker variable in its
//   environment) is killed.
// - Reads the TAP summary, prints the 10 slowest files, and a last line `N passed, N failed, N skipped`
//   ("failed" includes cancelled tests, so a timeout or crash never looks like a pass).
// - With CI=true, a skipped test is fatal: it lists every skipped test with its reason and exits 1,
//   because CI has every peer a test may need and a skip there means something is broken.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { startTestServices } from './test-services.mjs';
import { needsKeycloak } from './test-keycloak.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const testDir = process.env.GATEHOUSE_TEST_ROOT ? path.resolve(process.env.GATEHOUSE_TEST_ROOT) : path.join(root, 'test');
const seconds = (name, fallback) => Number(process.env[name] ?? fallback) * 1000;
const TEST_TIMEOUT_MS = seconds('GATEHOUSE_TEST_TIMEOUT_S', 120);
const FILE_TIMEOUT_MS = seconds('GATEHOUSE_TEST_FILE_TIMEOUT_S', 600);
const DEADLINE_MS = seconds('GATEHOUSE_TEST_DEADLINE_S', 1200);
const CONCURRENCY = Number(process.env.GATEHOUSE_TEST_CONCURRENCY ?? 3);
const isCI = /^(true|1)$/i.test(process.env.CI ?? '');
const TIMES_CACHE =
  process.env.GATEHOUSE_TEST_TIMES_CACHE ?? path.join(process.env.XDG_CACHE_HOME ?? path.join(homedir(), '.cache'), 'gatehouse', 'test-times.json');

const args = process.argv.slice(2);
const nodeFlags = args.filter((a) => a.startsWith('-'));
const filters = args.filter((a) => !a.startsWith('-'));

function findTestFiles(dir) {
  if (!existsSync(dir)) return [];
  const out = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.name === 'node_modules' || entry.name === 'fixtures' || entry.name.startsWith('.')) continue;
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...findTestFiles(full));
    else if (entry.isFile() && entry.name.endsWith('.test.ts')) out.push(full);
  }
  return out;
}

function hasSources(dir) {
  if (!existsSync(dir)) return false;
  return readdirSync(dir, { withFileTypes: true }).some((e) => (e.isDirectory() ? hasSources(path.join(dir, e.name)) : /\.(c|m)?tsx?$/.test(e.name)));
}

const toPosix = (p) => p.split(path.sep).join('/');
let files = findTestFiles(testDir)
  .map((f) => toPosix(path.relative(root, f)))
  .sort();
if (filters.length > 0) files = files.filter((f) => filters.some((s) => f.includes(s)));
files = slowestFirst(files, readTimesCache());
const keycloakFiles = process.env.GATEHOUSE_TEST_KEYCLOAK_URL ? [] : files.filter((f) => needsKeycloak([f]));
files = afterKeycloakBoots(files, keycloakFiles);

if (files.length === 0) {
  if (filters.length > 0) {
    console.error(`run-tests: no test file under test/ matches ${filters.map((f) => JSON.stringify(f)).join(' or ')}`);
    process.exit(1);
  }
  console.log('run-tests: no *.test.ts files under test/');
  console.log('0 passed, 0 failed, 0 skipped');
  process.exit(0);
}

// Build first: e2e tests spawn the compiled CLI.
if (!process.env.GATEHOUSE_SKIP_BUILD) {
  if (hasSources(path.join(root, 'src'))) {
    const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
    const build = spawnSync(npm, ['run', '--silent', 'build'], { cwd: root, stdio: 'inherit' });
    if (build.status !== 0) {
      console.error(`run-tests: \`npm run build\` failed (exit ${build.status ?? build.signal}); not running tests`);
      process.exit(build.status || 1);
    }
  } else {
    console.log('run-tests: src/ has no sources yet; skipping the build');
  }
}

const timesDir = mkdtempSync(path.join(tmpdir(), 'gatehouse-test-times-'));
const tmp = process.env.GATEHOUSE_TAP_FILE ? null : mkdtempSync(path.join(tmpdir(), 'gatehouse-tests-'));
const tapFile = process.env.GATEHOUSE_TAP_FILE ? path.resolve(process.env.GATEHOUSE_TAP_FILE) : path.join(tmp, 'results.tap');

const nodeArgs = [
  '--import',
  'tsx',
  '--import',
  pathToFileURL(path.join(root, 'scripts', 'test-timeouts.mjs')).href,
  '--test',
  `--test-concurrency=${CONCURRENCY}`,
  `--test-timeout=${FILE_TIMEOUT_MS}`,
  '--test-reporter=spec',
  '--test-reporter-destination=stdout',
  '--test-reporter=tap',
  `--test-reporter-destination=${tapFile}`,
  ...nodeFlags,
  ...files,
];

let services;
try {
  services = await startTestServices((line) => console.log(`run-tests: ${line}`), { keycloak: keycloakFiles.length > 0 });
} catch (err) {
  console.error(`run-tests: a service did not start, so no test runs: ${err.message}`);
  if (tmp) rmSync(tmp, { recursive: true, force: true });
  process.exit(1);
}

// Every process the tests start inherits this; what is left at the end is found by it and killed.
const marker = `${process.pid}-${Date.now()}`;
console.log(`run-tests: ${files.length} file${files.length === 1 ? '' : 's'}, ${CONCURRENCY} at a time${isCI ? ' (CI: skips are fatal)' : ''}`);
// NODE_TEST_CONTEXT is set when a test runs this runner (test/harness): it is a run of its own.
const { NODE_TEST_CONTEXT: _nested, ...parentEnv } = process.env;
const child = spawn(process.execPath, nodeArgs, {
  cwd: root,
  stdio: 'inherit',
  detached: true,
  env: { ...parentEnv, ...services.env, GATEHOUSE_TEST_TIMEOUT_MS: String(TEST_TIMEOUT_MS), GATEHOUSE_TEST_TIMES_DIR: timesDir, GATEHOUSE_TEST_RUN: marker },
});

const killRunner = (signal) => {
  try {
    process.kill(-child.pid, signal);
  } catch {
    // gone
  }
};
// Let Ctrl-C / SIGTERM reach the runner and let it clean up; exit when it does.
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => killRunner(sig));
let deadlineHit = false;
const deadline = setTimeout(() => {
  deadlineHit = true;
  console.error(`\nrun-tests: the run passed its deadline of ${DEADLINE_MS / 1000} s; killing it`);
  killRunner('SIGTERM');
  setTimeout(() => killRunner('SIGKILL'), 5000).unref();
}, DEADLINE_MS);

const { code, signal } = await new Promise((resolve) => {
  child.on('exit', (c, s) => resolve({ code: c, signal: s }));
  child.on('error', (err) => {
    console.error(`run-tests: could not start node: ${err.message}`);
    resolve({ code: 1, signal: null });
  });
});
clearTimeout(deadline);
killRunner('SIGKILL');
const leftovers = reapMarked(marker);
if (leftovers.length > 0) console.log(`run-tests: killed ${leftovers.length} process(es) the tests left running: ${leftovers.join(', ')}`);
await services.stop();

let tap = '';
try {
  tap = readFileSync(tapFile, 'utf8');
} catch {
  console.error(`run-tests: no TAP output at ${tapFile}`);
}
if (tmp) rmSync(tmp, { recursive: true, force: true });

const result = parseTap(tap);

if (result.skips.length > 0) {
  console.log(`\nskipped tests (${result.skips.length}):`);
  for (const s of result.skips) console.log(`  - ${s.name}: ${s.reason || '(no reason given)'}`);
}

const times = readTimes(timesDir);
printSlowest(times);
writeTimesCache(times);
rmSync(timesDir, { recursive: true, force: true });

let exitCode = code ?? (signal === 'SIGINT' ? 130 : 1);
if (deadlineHit) exitCode = exitCode || 1;
if (isCI && result.skips.length > 0) {
  console.log(`\nCI=true: ${result.skips.length} skipped test(s) count as failures (every peer should be available in CI).`);
  if (exitCode === 0) exitCode = 1;
}
if (exitCode === 0 && (result.failed > 0 || tap === '')) exitCode = 1;

console.log(`${result.passed} passed, ${result.failed} failed, ${result.skipped} skipped`);
process.exit(exitCode);

/** What each file wrote at exit (test-timeouts.mjs): `{ file, ms }`. */
function readTimes(dir) {
  return readdirSync(dir).flatMap((f) => {
    try {
      return [JSON.parse(readFileSync(path.join(dir, f), 'utf8'))];
    } catch {
      return [];
    }
  });
}

/** Longest first (longest-processing-time scheduling); unknown files guessed by folder, ties by name. */
function slowestFirst(list, known) {
  const guess = (f) => known[f] ?? (f.startsWith('test/e2e/') ? 30_000 : f.startsWith('test/integration/') ? 15_000 : 2_000);
  return [...list].sort((a, b) => guess(b) - guess(a) || a.localeCompare(b));
}

/**
 * The files that wait for Keycloak move behind the first three rounds of files, so its 15-40 s
 * boot overlaps other work instead of holding test slots.
 */
function afterKeycloakBoots(list, waiting) {
  if (waiting.length === 0) return list;
  const others = list.filter((f) => !waiting.includes(f));
  const at = Math.min(others.length, CONCURRENCY * 3);
  return [...others.slice(0, at), ...waiting, ...others.slice(at)];
}

function readTimesCache() {
  try {
    return JSON.parse(readFileSync(TIMES_CACHE, 'utf8'));
  } catch {
    return {};
  }
}

/** Merges this run's times into the cache; a cache that cannot be written only costs the ordering. */
function writeTimesCache(times) {
  // A run over another root (the harness's fixtures) says nothing about this suite's files.
  if (times.length === 0 || process.env.GATEHOUSE_TEST_ROOT) return;
  try {
    const cache = readTimesCache();
    for (const t of times) cache[toPosix(t.file)] = Math.round(t.ms);
    mkdirSync(path.dirname(TIMES_CACHE), { recursive: true });
    writeFileSync(TIMES_CACHE, JSON.stringify(cache, null, 1) + '\n');
  } catch (err) {
    console.error(`run-tests: could not keep the test times (${err.message})`);
  }
}

/** The 10 test files that took longest. */
function printSlowest(times) {
  if (times.length === 0) return;
  console.log('\nslowest test files:');
  for (const t of times.sort((a, b) => b.ms - a.ms).slice(0, 10)) {
    console.log(`  ${(t.ms / 1000).toFixed(1).padStart(7)} s  ${toPosix(t.file)}`);
  }
}

/** Kills (SIGKILL) every process whose environment carries the run's marker; returns "pid (name)". */
function reapMarked(mark) {
  if (!existsSync('/proc')) return [];
  const needle = Buffer.from(`GATEHOUSE_TEST_RUN=${mark}\0`);
  const killed = [];
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    if (Number(pid) === process.pid) continue;
    try {
      if (!readFileSync(`/proc/${pid}/environ`).includes(needle)) continue;
      process.kill(Number(pid), 'SIGKILL');
      killed.push(`${pid} (${path.basename(readlinkSync(`/proc/${pid}/exe`))})`);
    } catch {
      // gone, or not ours to read
    }
  }
  return killed;
}

// --- TAP parsing ---------------------------------------------------------------------------------

function unescapeTap(s) {
  return s.replace(/\\(.)/g, (_m, c) => (c === 'n' ? '\n' : c === 'r' ? '\r' : c));
}

/**
 * Reads the node:test TAP output: the final top-level summary (`# pass N`, `# fail N`,
 * `# cancelled N`, `# skipped N`) and every `ok ... # SKIP reason` line, with the names of the
 * subtests/suites that enclose it (tracked from `# Subtest:` lines and their indentation).
 */
function parseTap(text) {
  const summary = {};
  const skips = [];
  const stack = [];
  const counted = { pass: 0, fail: 0, skip: 0 };

  for (const line of text.split(/\r?\n/)) {
    const sum = /^# (tests|suites|pass|fail|cancelled|skipped|todo) (\d+)$/.exec(line);
    if (sum) {
      summary[sum[1]] = Number(sum[2]); // the real summary comes last; earlier matches are overwritten
      continue;
    }
    const sub = /^( *)# Subtest: (.*)$/.exec(line);
    if (sub) {
      const depth = Math.floor(sub[1].length / 4);
      stack.length = depth;
      stack[depth] = unescapeTap(sub[2]);
      continue;
    }
    const res = /^( *)(not ok|ok) \d+(?: - (.*?))?(?: # (SKIP|TODO)\b ?(.*))?$/i.exec(line);
    if (!res) continue;
    const depth = Math.floor(res[1].length / 4);
    const directive = res[4]?.toUpperCase();
    if (directive === 'SKIP') {
      const name = unescapeTap(res[3] ?? '(unnamed)');
      const parents = stack.slice(0, depth).filter(Boolean);
      skips.push({ name: [...parents, name].join(' > '), reason: unescapeTap(res[5] ?? '').trim() });
      counted.skip++;
    } else if (directive !== 'TODO') {
      if (res[2] === 'ok') counted.pass++;
      else counted.fail++;
    }
  }
  if ('pass' in summary) {
    return {
      passed: summary.pass,
      failed: (summary.fail ?? 0) + (summary.cancelled ?? 0),
      skipped: summary.skipped ?? 0,
      skips,
    };
  }
  // No summary (the runner crashed or was killed): fall back to counting result lines. This
  // over-counts suites, but it never hides a failure.
  if (text.length > 0) console.error('run-tests: TAP output has no summary; counts are approximate');
  return { passed: counted.pass, failed: counted.fail, skipped: counted.skip, skips };
}
