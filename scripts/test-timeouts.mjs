// Loaded into every test file by scripts/run-tests.mjs (`--import`), so that no file can hang:
// - each test and hook gets a default timeout of GATEHOUSE_TEST_TIMEOUT_MS, so a stuck test fails
//   with its own name instead of holding the run (Node 20's `--test-timeout` bounds a whole file).
//   A test that sets its own `timeout` keeps it. Suites (describe) get none: their tests are bounded
//   one by one. Tests import { test } by name; the default export cannot be wrapped.
// - once the file's last test has ended, the process exits within a few seconds even if a handle
//   (a socket, a timer, a child's pipe) would keep it alive. `--test-force-exit` would do that too,
//   but on the runner it also cuts the TAP summary short.
// - the file's wall time goes to GATEHOUSE_TEST_TIMES_DIR for the runner's "slowest files" list.
import { writeFileSync } from 'node:fs';
import { createRequire, syncBuiltinESMExports } from 'node:module';
import path from 'node:path';
import { performance } from 'node:perf_hooks';

const nodeTest = createRequire(import.meta.url)('node:test');
const EXIT_GRACE_MS = 3000;

if (process.env.GATEHOUSE_TEST_TIMES_DIR) {
  process.once('exit', () => {
    const file = path.relative(process.cwd(), process.argv[1] ?? '');
    writeFileSync(path.join(process.env.GATEHOUSE_TEST_TIMES_DIR, `${process.pid}.json`), JSON.stringify({ file, ms: performance.now() }));
  });
}

const timeout = Number(process.env.GATEHOUSE_TEST_TIMEOUT_MS);
if (timeout > 0) {
  /** test(name?, options?, fn?) and it(...): the options object gets a timeout when it has none. */
  const forTests = (original) =>
    copyProperties(original, function (...args) {
      const at = args.findIndex((a) => typeof a === 'object' && a !== null);
      const fn = args.findIndex((a) => typeof a === 'function');
      if (at !== -1) args[at] = { timeout, ...args[at] };
      else args.splice(fn === -1 ? args.length : fn, 0, { timeout });
      return original.apply(this, args);
    });

  /** before(fn, options?) and the other hooks. */
  const forHooks = (original) =>
    copyProperties(original, function (fn, options) {
      return original.call(this, fn, { timeout, ...options });
    });

  for (const name of ['test', 'it']) nodeTest[name] = forTests(nodeTest[name]);
  for (const name of ['before', 'after', 'beforeEach', 'afterEach']) nodeTest[name] = forHooks(nodeTest[name]);
  syncBuiltinESMExports();
}

// A root-level hook: it runs after the file's last test.
nodeTest.after(() => {
  setTimeout(() => process.exit(), EXIT_GRACE_MS).unref();
});

/** The wrapper keeps the original's properties (test.skip, test.todo, it.only, ...). */
function copyProperties(original, wrapper) {
  for (const key of Object.keys(original)) wrapper[key] = original[key];
  return wrapper;
}
