// ESLint flat config: @eslint/js recommended + typescript-eslint recommended (no type-aware rules,
// so `npx eslint .` stays fast and works on a partial tree).
import js from '@eslint/js';
import { defineConfig, globalIgnores } from 'eslint/config';
import tseslint from 'typescript-eslint';

// The few globals plain .js/.mjs files use. Listed here rather than taken from the `globals`
// package, which is not a direct dependency. (TypeScript files get no-undef from tsc instead.)
const nodeGlobals = Object.fromEntries(
  [
    'process', 'console', 'Buffer', 'URL', 'URLSearchParams', 'TextEncoder', 'TextDecoder',
    'AbortController', 'AbortSignal', 'fetch', 'Headers', 'Request', 'Response', 'FormData', 'Blob',
    'structuredClone', 'queueMicrotask', 'setTimeout', 'clearTimeout', 'setInterval', 'clearInterval',
    'setImmediate', 'clearImmediate', 'performance', 'crypto', 'globalThis',
  ].map((name) => [name, 'readonly']),
);
const browserGlobals = Object.fromEntries(
  [
    'window', 'document', 'navigator', 'location', 'history', 'localStorage', 'sessionStorage',
    'HTMLElement', 'Element', 'Event', 'CustomEvent', 'EventSource', 'WebSocket', 'requestAnimationFrame',
    'cancelAnimationFrame', 'ResizeObserver', 'MutationObserver', 'alert', 'confirm',
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

export default defineConfig(
  globalIgnores([
    'dist/',
    'node_modules/',
    'session-recordings/',
    'data/',
    'coverage/',
  ]),
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
);
