// ESLint flat config: @eslint/js recommended + typescript-eslint recommended (no type-aware rules,
// so `npx eslint .` stays fast and works on a partial tree).
import js from '@eslint/js';
import { defineConfig, globalIgnores } from 'eslint/config';
import tseslint from 'typescript-eslint';

// The few globals plain .js/.mjs files use. Listed here rather than taken from the `globals`
// package, which is not a direct dependency. (TypeScript files get no-undef from tsc instead.)
const nodeGlobals = Object.fromEntries(
  [
    'process',
    'console',
    'Buffer',
    'URL',
    'URLSearchParams',
    'TextEncoder',
    'TextDecoder',
    'AbortController',
    'AbortSignal',
    'fetch',
    'Headers',
    'Request',
    'Response',
    'FormData',
    'Blob',
    'structuredClone',
    'queueMicrotask',
    'setTimeout',
    'clearTimeout',
    'setInterval',
    'clearInterval',
    'setImmediate',
    'clearImmediate',
    'performance',
    'crypto',
    'globalThis',
  ].map((name) => [name, 'readonly']),
);
const browserGlobals = Object.fromEntries(
  [
    'window',
    'document',
    'navigator',
    'location',
    'history',
    'localStorage',
    'sessionStorage',
    'HTMLElement',
    'Element',
    'Event',
    'CustomEvent',
    'EventSource',
    'WebSocket',
    'requestAnimationFrame',
    'cancelAnimationFrame',
    'ResizeObserver',
    'MutationObserver',
    'alert',
    'confirm',
  ].map((name) => [name, 'readonly']),
);

const unusedVars = [
  'error',
  {
    argsIgnorePattern: '^_',
    varsIgnorePattern: '^_',
    caughtErrorsIgnorePattern: '^_',
    destructuredArrayIgnorePattern: '^_',
    ignoreRestSiblings: true,
  },
];

// Which folders of src/ may import which (CONTRIBUTING.md, "Code layout", has the same table in
// prose). Imports point from the edges (web, cli, main.ts) toward core. `type:X` allows only
// type-only imports of X (`import type`), for capabilities that depend on X's interfaces or config
// types but must not run its code. Keys are folders (a nested folder's rule covers its subfolders),
// `proxy` is the files directly in src/proxy/ shared by the proxies, and a key ending in .ts is one
// file whose rule replaces its folder's.
const PROXY = ['core', 'access', 'tokens', 'audit', 'recording', 'sessions', 'store', 'proxy', 'type:config', 'type:requests'];
const EVERYTHING = [
  'core',
  'config',
  'store',
  'audit',
  'recording',
  'access',
  'sessions',
  'tokens',
  'ssh-ca',
  'db-ca',
  'requests',
  'demo-idp',
  'demo-node',
  'connectors',
  'kube',
  'metrics',
  'proxy',
  'proxy/http',
  'proxy/kube',
  'proxy/ssh',
  'proxy/db',
  'web',
];
const CLI = ['core', 'config', 'access', 'audit', 'kube', 'recording', 'ssh-ca'];
export const boundaries = {
  core: [],
  config: ['core'],
  store: ['core'],
  audit: ['core'],
  recording: ['core'],
  access: ['core'],
  sessions: ['core', 'store'],
  tokens: ['core', 'store', 'access', 'type:audit'],
  'ssh-ca': ['core', 'store', 'access'],
  'db-ca': ['core', 'store', 'access'],
  // Access requests feed policy (access) and audit their lifecycle; notifications read their config.
  requests: ['core', 'store', 'access', 'audit', 'type:config'],
  'demo-idp': ['core', 'store', 'type:audit'],
  // The demo's toy SSH node: checks certificates with ssh-ca's pure functions (certs, keys).
  'demo-node': ['core', 'ssh-ca'],
  connectors: ['core', 'store', 'demo-idp', 'type:audit', 'type:config'],
  kube: ['core', 'access', 'tokens', 'type:config'],
  metrics: ['core', 'audit', 'store'],
  proxy: ['core'],
  'proxy/http': PROXY,
  'proxy/kube': PROXY,
  'proxy/ssh': [...PROXY, 'ssh-ca'],
  // Database access reuses the SSH revocation list: revoking a person ends both kinds of session.
  'proxy/db': [...PROXY, 'ssh-ca', 'db-ca'],
  web: EVERYTHING,
  // The CLI talks to a gateway over HTTP; it reads configs and files locally.
  cli: CLI,
  // `gatehouse serve` starts the gateway in process.
  'cli/commands/serve.ts': [...CLI, 'main'],
  'main.ts': [...EVERYTHING, 'cli'],
};

/** Import-string globs (gitignore syntax, as no-restricted-imports matches them) by which `folder` reaches `target`. */
function reaching(target, folder, allowed) {
  if (target === 'main') return ['**/main.js'];
  if (target === 'proxy') return ['**/proxy/*.js'];
  const [parent, name] = target.includes('/') ? target.split('/') : [undefined, target];
  if (!parent) {
    // `**/kube/**` also matches src/proxy/kube/: leave out the nested folders `folder` may import.
    return [`**/${name}/**`, ...allowed.filter((a) => a.endsWith(`/${name}`)).map((a) => `!**/${a}/**`)];
  }
  // From inside the parent, a sibling is reached without naming the parent (proxy/ssh: ../http/x.js).
  if (folder === parent || folder.startsWith(`${parent}/`)) {
    if (allowed.includes(name)) throw new Error(`eslint.config.js: ${folder} may import ${name} but not ${target}, and their globs overlap`);
    return [`**/${target}/**`, `**/${name}/**`];
  }
  return [`**/${target}/**`];
}

const targets = [...Object.keys(boundaries).filter((k) => !k.endsWith('.ts')), 'main'];
const boundaryBlocks = Object.entries(boundaries).map(([key, allowed]) => {
  // The folder a key's files are in ('main' for src/main.ts): imports inside it are free.
  const folder = key === 'main.ts' ? 'main' : key.endsWith('.ts') ? key.slice(0, key.indexOf('/')) : key;
  const patterns = targets
    .filter((t) => t !== folder && !allowed.includes(t))
    .map((t) => ({
      group: reaching(t, folder, allowed),
      allowTypeImports: allowed.includes(`type:${t}`),
      message: `src/${key} may ${allowed.includes(`type:${t}`) ? 'only import types from' : 'not import'} ${t}: imports point inward (the table in eslint.config.js, CONTRIBUTING.md "Code layout").`,
    }));
  const files = key.endsWith('.ts') ? [`src/${key}`] : key === 'proxy' ? ['src/proxy/*.ts'] : [`src/${key}/**`];
  return { files, rules: { '@typescript-eslint/no-restricted-imports': ['error', { patterns }] } };
});

export default defineConfig(
  globalIgnores(['dist/', 'node_modules/', 'session-recordings/', 'data/', 'coverage/']),
  js.configs.recommended,
  tseslint.configs.recommended,
  {
    languageOptions: { ecmaVersion: 2022, sourceType: 'module' },
    linterOptions: { reportUnusedDisableDirectives: 'warn' },
    rules: {
      '@typescript-eslint/no-unused-vars': unusedVars,
    },
  },
  {
    files: ['**/*.js', '**/*.mjs', '**/*.cjs'],
    languageOptions: { globals: nodeGlobals },
  },
  {
    files: ['**/*.cjs'],
    languageOptions: {
      sourceType: 'commonjs',
      globals: { require: 'readonly', module: 'writable', exports: 'writable', __dirname: 'readonly', __filename: 'readonly' },
    },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
  {
    // Scripts served to the browser (server-rendered pages' static assets).
    files: ['src/web/**/*.js', '**/static/**/*.js', '**/public/**/*.js', '**/assets/**/*.js'],
    languageOptions: { globals: { ...nodeGlobals, ...browserGlobals } },
  },
  ...boundaryBlocks,
);
