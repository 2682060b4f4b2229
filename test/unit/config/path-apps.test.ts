// Finding 1: a path app runs on the gateway's origin, so it must be trusted in so many words.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { configWarnings, parseConfig } from '../../../src/config/load.js';
import { runChild } from '../../helpers/processes.js';

const config = (apps: unknown[], server: Record<string, unknown> = {}) =>
  parseConfig({ server: { public_url: 'https://gatehouse.example.com', ...server }, connectors: [{ type: 'demo' }], apps });
const problems = (apps: unknown[], server: Record<string, unknown> = {}) => {
  try {
    config(apps, server);
    return '';
  } catch (err) {
    return (err as Error).message;
  }
};

describe('path apps need trust_gateway_origin', () => {
  test('an explicit or defaulted path app without the key is a config error naming the app and the key', () => {
    assert.match(
      problems([{ name: 'wiki', upstream: 'http://w', path: '/apps/wiki/' }]),
      /apps\.0: the app "wiki" .*\/apps\/wiki\/.*trust_gateway_origin: true/,
    );
    assert.match(problems([{ name: 'wiki', upstream: 'http://w' }]), /apps\.0: the app "wiki" .*trust_gateway_origin/, 'the /apps/<name>/ default too');
    assert.match(problems([{ name: 'wiki', upstream: 'http://w', path: '/apps/wiki/', trust_gateway_origin: false }]), /trust_gateway_origin/);
  });

  test('host apps and trusted path apps are fine; trusted ones are warned about', () => {
    assert.equal(problems([{ name: 'g', upstream: 'http://g', public_host: 'g.example.com' }]), '');
    assert.equal(problems([{ name: 'g', upstream: 'http://g' }], { apps_domain: 'apps.example.com' }), '');
    const trusted = config([
      { name: 'wiki', upstream: 'http://w', path: '/apps/wiki/', trust_gateway_origin: true },
      { name: 'g', upstream: 'http://g', public_host: 'g.example.com' },
    ]);
    const warnings = configWarnings(trusted);
    assert.equal(warnings.length, 1);
    assert.match(warnings[0], /apps\.0: the app "wiki" .*trust_gateway_origin: true/);
  });

  test('gatehouse check-config prints a warning per trusted path app and still exits 0', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gh-path-apps-'));
    try {
      const file = join(dir, 'c.yaml');
      writeFileSync(
        file,
        'server: { public_url: "http://127.0.0.1:9", listen: "127.0.0.1:9" }\nconnectors: [{ type: demo }]\napps:\n' +
          '  - { name: wiki, upstream: "http://127.0.0.1:1", path: /apps/wiki/, trust_gateway_origin: true }\n' +
          '  - { name: docs, upstream: "http://127.0.0.1:1", path: /apps/docs/, trust_gateway_origin: true }\n',
      );
      const ok = await runChild(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'check-config', '--config', file]);
      assert.equal(ok.code, 0, ok.stderr);
      assert.equal((ok.stderr.match(/warning: apps\.\d: the app "(wiki|docs)"/g) ?? []).length, 2, ok.stderr);
      writeFileSync(
        file,
        'server: { public_url: "http://127.0.0.1:9", listen: "127.0.0.1:9" }\nconnectors: [{ type: demo }]\napps:\n  - { name: wiki, upstream: "http://127.0.0.1:1", path: /apps/wiki/ }\n',
      );
      const bad = await runChild(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'check-config', '--config', file]);
      assert.equal(bad.code, 2);
      assert.match(bad.stderr, /apps\.0: the app "wiki".*trust_gateway_origin/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
