/**
 * `mode: proxy` needs `kube_proxy`: the config schema refuses a proxied cluster without the proxy's
 * listener, so `gatehouse check-config` refuses exactly what `serve` refuses.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { ConfigError, parseConfig } from '../../../src/config/load.js';

const base = (extra: Record<string, unknown> = {}) => ({
  server: { public_url: 'http://127.0.0.1:8080', listen: '127.0.0.1:8080' },
  connectors: [{ id: 'demo', type: 'demo' }],
  ...extra,
});
const proxied = (name: string) => ({ name, audience: `k8s-${name}`, mode: 'proxy', api_server: `https://${name}.example.com:6443`, token_file: '/dev/null' });
const oidc = (name: string) => ({ name, audience: `k8s-${name}`, api_server: `https://${name}.example.com:6443` });

const problemsOf = (raw: unknown): string[] => {
  try {
    parseConfig(raw, { env: {} });
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  return [];
};

describe('mode: proxy needs kube_proxy', () => {
  test('a proxied cluster without kube_proxy is refused, naming every proxied cluster', () => {
    assert.deepEqual(problemsOf(base({ clusters: [proxied('prod'), oidc('dev'), proxied('stage')] })), [
      'kube_proxy: clusters prod, stage use mode: proxy; configure kube_proxy (at least kube_proxy.listen).',
    ]);
  });

  test('with kube_proxy (even empty: listen has a default) it is accepted', () => {
    assert.deepEqual(problemsOf(base({ clusters: [proxied('prod')], kube_proxy: {} })), []);
    assert.deepEqual(problemsOf(base({ clusters: [proxied('prod')], kube_proxy: { listen: '127.0.0.1:8443' } })), []);
  });

  test('clusters in oidc mode need no kube_proxy', () => {
    assert.deepEqual(problemsOf(base({ clusters: [oidc('dev')] })), []);
  });

  test('gatehouse check-config refuses it (exit 2)', (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'gh-kube-proxy-rule-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const file = join(dir, 'gatehouse.json');
    writeFileSync(file, JSON.stringify(base({ clusters: [proxied('prod')] })));
    const run = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'check-config', '--config', file], { encoding: 'utf8' });
    assert.equal(run.status, 2, run.stderr);
    assert.match(run.stderr, /kube_proxy: clusters prod use mode: proxy/);
  });
});
