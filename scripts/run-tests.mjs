#!/usr/bin/env node
// The `npm test` entry point.
//
//   npm test                      build, then run every test/**/*.test.ts
//   npm test -- oidc saml         only files whose path contains "oidc" or "saml"
//   npm test -- --test-name-pattern=refresh   arguments starting with "-" go to `node --test`
//
// What it does:
// - Runs `npm run build` first (some e2e tests spawn dist/cli/main.js), unless GATEHOUSE_SKIP_BUILD
//   is set.
// - Finds the test files itself (Node 20's `node --test` takes no globs), sorted, and runs
//   `node --import tsx --test --test-concurrency=2` with the spec reporter on stdout and a TAP
//   reporter into a temporary file (or GATEHOUSE_TAP_FILE when set, e.g. to keep it as a CI artifact).
// - Reads the TAP summary and prints a last line `N passed, N failed, N skipped`
//   ("failed" includes cancelled tests, so a timeout or crash never looks like a pass).
// - With CI=true, a skipped test is fatal: it lists every skipped test with its reason and exits 1,
//   because CI has every peer a test may need and a skip there means something is broken.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const testDir = path.join(root, 'test');
const isCI = /^(true|1)$/i.test(process.env.CI ?? '');

const args = process.argv.slice(2);
const nodeFlags = args.filter((a) => a.startsWith('-'));
const filters = args.filter((a) => !a.startsWith('-'));

function findTestFiles(dir) {
  if (!existsSync(dir)) return [];
  const out = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.name === 'node_modules' || entry.name.startsWith('.')) continue;
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...findTestFiles(full));
    else if (entry.isFile() && entry.name.endsWith('.test.ts')) out.push(full);
  }
  return out;
}

function hasSources(dir) {
  if (!existsSync(dir)) return false;
  return readdirSync(dir, { withFileTypes: true }).some((e) =>
    e.isDirectory() ? hasSources(path.join(dir, e.name)) : /\.(c|m)?tsx?$/.test(e.name),
  );
}

const toPosix = (p) => p.split(path.sep).join('/');
let files = findTestFiles(testDir)
  .map((f) => toPosix(path.relative(root, f)))
  .sort();
if (filters.length > 0) files = files.filter((f) => filters.some((s) => f.includes(s)));

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

const tmp = process.env.GATEHOUSE_TAP_FILE ? null : mkdtempSync(path.join(tmpdir(), 'gatehouse-tests-'));
const tapFile = process.env.GATEHOUSE_TAP_FILE
  ? path.resolve(process.env.GATEHOUSE_TAP_FILE)
  : path.join(tmp, 'results.tap');

const nodeArgs = [
  '--import', 'tsx',
  '--test',
  '--test-concurrency=2',
  '--test-reporter=spec', '--test-reporter-destination=stdout',
  '--test-reporter=tap', `--test-reporter-destination=${tapFile}`,
  ...nodeFlags,
  ...files,
];

console.log(`run-tests: ${files.length} file${files.length === 1 ? '' : 's'}${isCI ? ' (CI: skips are fatal)' : ''}`);
const child = spawn(process.execPath, nodeArgs, { cwd: root, stdio: 'inherit' });

// Let Ctrl-C / SIGTERM reach the runner and let it clean up; exit when it does.
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => child.kill(sig));

const { code, signal } = await new Promise((resolve) => {
  child.on('exit', (c, s) => resolve({ code: c, signal: s }));
  child.on('error', (err) => {
    console.error(`run-tests: could not start node: ${err.message}`);
    resolve({ code: 1, signal: null });
  });
});

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

let exitCode = code ?? (signal === 'SIGINT' ? 130 : 1);
if (isCI && result.skips.length > 0) {
  console.log(`\nCI=true: ${result.skips.length} skipped test(s) count as failures (every peer should be available in CI).`);
  if (exitCode === 0) exitCode = 1;
}
if (exitCode === 0 && (result.failed > 0 || tap === '')) exitCode = 1;

console.log(`${result.passed} passed, ${result.failed} failed, ${result.skipped} skipped`);
process.exit(exitCode);

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
