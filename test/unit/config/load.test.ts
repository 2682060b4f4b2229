import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { ConfigError, loadConfigFile, parseConfig } from '../../../src/config/load.js';

const minimal = (extra: Record<string, unknown> = {}) => ({
  server: { public_url: 'http://127.0.0.1:8080', listen: '127.0.0.1:8080' },
  connectors: [{ id: 'keycloak', type: 'oidc', issuer: 'https://kc.example.com/realms/ops', client_id: 'gatehouse', client_secret: '${KC_SECRET}' }],
  ...extra,
});

const problemsOf = (fn: () => unknown): string[] => {
  try {
    fn();
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  assert.fail('expected a ConfigError');
};

describe('config', () => {
  test('applies defaults and interpolates ${ENV}', () => {
    const config = parseConfig(minimal(), { env: { KC_SECRET: 's3' } });
    const [kc] = config.connectors;
    assert.equal(kc.type === 'oidc' && kc.client_secret, 's3');
    assert.deepEqual(kc.type === 'oidc' && kc.scopes, ['openid', 'email', 'profile']);
    assert.equal(config.tokens.signing_alg, 'ES256');
    assert.equal(config.server.session.idle_ttl, 3_600_000);
    assert.equal(config.state.redis_url, undefined);
  });

  test('${VAR:-default} falls back when unset', () => {
    const config = parseConfig({ ...minimal(), state: { data_dir: '${DATA:-/tmp/gh}' } }, { env: { KC_SECRET: 'x' } });
    assert.equal(config.state.data_dir, '/tmp/gh');
  });

  test('client_secret_file reads a mounted secret', () => {
    const dir = mkdtempSync(join(tmpdir(), 'gh-cfg-'));
    writeFileSync(join(dir, 'secret'), 'from-file\n');
    const raw = minimal();
    const connector = raw.connectors[0] as Record<string, unknown>;
    delete connector.client_secret;
    connector.client_secret_file = 'secret';
    const config = parseConfig(raw, { baseDir: dir });
    assert.equal(config.connectors[0].type === 'oidc' && config.connectors[0].client_secret, 'from-file');
  });

  test('reports every problem with its path, at once', () => {
    const problems = problemsOf(() =>
      parseConfig(
        {
          server: { public_url: 'http://gatehouse.example.com', listen: 'nope', bogus: 1 },
          tokens: { ttl: 'ten minutes' },
          connectors: [
            { id: 'Bad Id', type: 'oidc', issuer: 'not a url', client_id: '' },
            { id: 'x', type: 'ldap' },
          ],
        },
        { env: {} },
      ),
    );
    const text = problems.join('\n');
    for (const path of [
      'server.listen',
      'server: Unrecognized key',
      'tokens.ttl',
      'connectors.0.id',
      'connectors.0.issuer',
      'connectors.0.client_id',
      'connectors.1.type',
    ]) {
      assert.ok(text.includes(path), `mentions ${path}:\n${text}`);
    }
  });

  test('missing environment variables are reported with their path', () => {
    const problems = problemsOf(() => parseConfig(minimal(), { env: {} }));
    assert.deepEqual(problems, ['connectors.0.client_secret: environment variable KC_SECRET is not set']);
  });

  test('plain http is refused off loopback', () => {
    const raw = minimal();
    raw.server.public_url = 'http://gatehouse.example.com';
    (raw.connectors[0] as Record<string, unknown>).issuer = 'http://idp.example.com';
    const problems = problemsOf(() => parseConfig(raw, { env: { KC_SECRET: 'x' } }));
    assert.equal(problems.length, 2);
    assert.match(problems[0], /^server\.public_url: plain http/);
    assert.match(problems[1], /^connectors\.0\.issuer: plain http/);
  });

  test('duplicate connector ids are refused', () => {
    const raw = minimal();
    raw.connectors.push({ ...raw.connectors[0] });
    assert.deepEqual(
      problemsOf(() => parseConfig(raw, { env: { KC_SECRET: 'x' } })),
      ['connectors.1.id: duplicate connector id "keycloak"'],
    );
  });

  test('YAML syntax errors name the line', () => {
    const dir = mkdtempSync(join(tmpdir(), 'gh-cfg-'));
    writeFileSync(join(dir, 'bad.yaml'), 'server:\n  public_url: [unclosed\n');
    const problems = problemsOf(() => loadConfigFile(join(dir, 'bad.yaml')));
    assert.match(problems[0], /bad\.yaml:\d+:/);
  });

  test('the example config is valid', () => {
    const config = loadConfigFile('config/gatehouse.example.yaml', {
      GOOGLE_CLIENT_SECRET: 'x',
      KEYCLOAK_CLIENT_SECRET: 'y',
      TOKENREVIEW_TOKEN: 'z'.repeat(32),
    });
    assert.ok(config.connectors.length >= 2);
  });

  test('gatehouse check-config prints every problem and exits 2', () => {
    const dir = mkdtempSync(join(tmpdir(), 'gh-cfg-'));
    const file = join(dir, 'broken.yaml');
    writeFileSync(file, 'server:\n  public_url: ftp://x\n  listen: 8080\nconnectors: []\n');
    const run = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'check-config', '--config', file], { encoding: 'utf8' });
    assert.equal(run.status, 2, run.stderr);
    assert.match(run.stderr, /server\.public_url/);
    assert.match(run.stderr, /server\.listen/);
    assert.match(run.stderr, /connectors: configure at least one connector/);
    assert.doesNotMatch(run.stderr, /\n\s+at /, 'no stack trace');

    writeFileSync(file, 'server: { public_url: "http://127.0.0.1:9", listen: "127.0.0.1:9" }\nconnectors: [{ type: demo }]\n');
    const ok = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'check-config', '--config', file], { encoding: 'utf8' });
    assert.equal(ok.status, 0, ok.stderr);
    assert.match(ok.stdout, /OK/);
  });
});

describe('policy in the config', () => {
  const run = (args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], { encoding: 'utf8' });

  test('check-config runs the example config policy tests', () => {
    const ok = run(['check-config', '--config', 'config/gatehouse.example.yaml']);
    assert.equal(ok.status, 2, 'secrets unset');
    const withEnv = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'check-config', '--config', 'config/gatehouse.example.yaml'], {
      encoding: 'utf8',
      env: { ...process.env, GOOGLE_CLIENT_SECRET: 'x', KEYCLOAK_CLIENT_SECRET: 'y', TOKENREVIEW_TOKEN: 'z'.repeat(32) },
    });
    assert.equal(withEnv.status, 0, withEnv.stderr);
    assert.match(withEnv.stdout, /2 policy test\(s\) passed/);
  });

  test('a failing policy test and a mapping to an unknown role exit 2 with paths', () => {
    const dir = mkdtempSync(join(tmpdir(), 'gh-cfg-'));
    const file = join(dir, 'policy.yaml');
    writeFileSync(
      file,
      [
        'server: { public_url: "http://127.0.0.1:9", listen: "127.0.0.1:9" }',
        'connectors: [{ type: demo }]',
        'roles: [{ name: dev, kubernetes_groups: [devs] }]',
        'mappings:',
        '  - { match: { claim: groups, value: devs }, roles: [dev] }',
        '  - { match: { claim: groups, value: "/^(x)$/" }, roles: [nope] }',
        'tests:',
        '  - { name: bob, identity: { connector: demo, username: bob, groups: [devs] }, expect: { kubernetes_groups: [admins] } }',
      ].join('\n'),
    );
    const first = run(['check-config', '--config', file]);
    assert.equal(first.status, 2);
    assert.match(first.stderr, /mappings\.1\.roles\.0: no role is named "nope"/);
    writeFileSync(file, readFileSync(file, 'utf8').replace(', roles: [nope]', ', roles: [dev]'));
    const second = run(['check-config', '--config', file]);
    assert.equal(second.status, 2);
    assert.match(second.stderr, /tests\.0 \(bob\): kubernetes_groups expected \[admins\] but got \[devs\]/);
  });

  test('policy explain shows each grant and where it came from', () => {
    const dir = mkdtempSync(join(tmpdir(), 'gh-cfg-'));
    const identity = join(dir, 'id.json');
    writeFileSync(identity, JSON.stringify({ connector: 'google', username: 'ana', email: 'ana@example.com', groups: ['platform'] }));
    const out = spawnSync(
      process.execPath,
      ['--import', 'tsx', 'src/cli/main.ts', 'policy', 'explain', '--config', 'config/gatehouse.example.yaml', '--identity', identity],
      {
        encoding: 'utf8',
        env: { ...process.env, GOOGLE_CLIENT_SECRET: 'x', KEYCLOAK_CLIENT_SECRET: 'y', TOKENREVIEW_TOKEN: 'z'.repeat(32) },
      },
    );
    assert.equal(out.status, 0, out.stderr);
    assert.match(out.stdout, /platform-admin\s+from mappings\.0/);
    assert.match(out.stdout, /platform-admins\s+from role platform-admin/);
    assert.match(out.stdout, /root\s+from role platform-admin/);
    assert.match(out.stdout, /audit: read/);
  });
});
