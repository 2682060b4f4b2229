// oidc-provider is loaded only by the demo IdP, lazily: a gateway whose config has no demo
// connector never loads it. Each case starts the whole composition (createGateway, start, stop)
// in a child process whose module resolve hook appends every resolution of oidc-provider, with
// its importer, to a file before it returns; the demo case proves the hook sees the lazy import.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';

import { runChild } from '../helpers/processes.js';

const REPO_ROOT = new URL('../../', import.meta.url);
const src = (path: string) => new URL(`src/${path}`, REPO_ROOT).href;
const tmp = mkdtempSync(join(tmpdir(), 'gatehouse-lazy-oidc-provider-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

// Runs in the hooks thread, synchronously before the resolution returns to the importer.
const HOOK = `
import { appendFileSync } from 'node:fs';
let logFile;
export function initialize(data) { logFile = data.logFile; }
export async function resolve(specifier, context, next) {
  const result = await next(specifier, context);
  if (/^oidc-provider(\\/|$)/.test(specifier) || result.url.includes('/node_modules/oidc-provider/')) {
    appendFileSync(logFile, specifier + ' from ' + context.parentURL + '\\n');
  }
  return result;
}`;

/** Starts and stops a gateway with these connectors; returns what resolved oidc-provider, if anything. */
async function oidcProviderResolutions(name: string, connectors: unknown[]): Promise<string[]> {
  const logFile = join(tmp, `${name}.log`);
  const config = {
    server: { public_url: 'http://127.0.0.1:8080', listen: '127.0.0.1:0' },
    state: { data_dir: join(tmp, name) },
    connectors,
  };
  const script = `
import { register } from 'node:module';
register('data:text/javascript,' + encodeURIComponent(${JSON.stringify(HOOK)}), { data: { logFile: ${JSON.stringify(logFile)} } });
const { parseConfig } = await import(${JSON.stringify(src('config/load.ts'))});
const { createLogger } = await import(${JSON.stringify(src('core/logger.ts'))});
const { createGateway } = await import(${JSON.stringify(src('main.ts'))});
const gateway = await createGateway(parseConfig(${JSON.stringify(config)}), { logger: createLogger('silent') });
await gateway.start();
console.log(JSON.stringify({ started: gateway.url(), connectors: [...gateway.connectors.byId.keys()] }));
await gateway.stop();
`;
  const run = await runChild(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    cwd: new URL('.', REPO_ROOT).pathname,
    timeoutMs: 90_000,
  });
  assert.equal(run.code, 0, `the gateway child failed (timed out: ${run.timedOut})\n${run.stdout}\n${run.stderr}`);
  const report = JSON.parse(run.stdout.trim().split('\n').at(-1) ?? '{}') as { started?: string; connectors?: string[] };
  assert.match(report.started ?? '', /^http:\/\/127\.0\.0\.1:\d+$/);
  assert.deepEqual(
    report.connectors,
    connectors.map((c) => (c as { id: string }).id),
  );
  return existsSync(logFile) ? readFileSync(logFile, 'utf8').trim().split('\n') : [];
}

test('a gateway with only an OIDC connector never loads oidc-provider', { timeout: 120_000 }, async () => {
  const loaded = await oidcProviderResolutions('oidc-only', [
    { type: 'oidc', id: 'corp', issuer: 'http://127.0.0.1:9/realms/corp', client_id: 'gatehouse', client_secret: 'not-a-secret' }, // secret-scan: allow (never sent)
  ]);
  assert.deepEqual(loaded, []);
});

test('a gateway with the demo connector loads oidc-provider from the demo IdP (the hook sees it)', { timeout: 120_000 }, async () => {
  const loaded = await oidcProviderResolutions('demo', [{ type: 'demo', id: 'demo' }]);
  assert.ok(loaded.length > 0, 'oidc-provider was never resolved');
  assert.equal(loaded[0], `oidc-provider from ${src('demo-idp/server.ts')}`);
});
