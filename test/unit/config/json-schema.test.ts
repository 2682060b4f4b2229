/**
 * The config file's JSON Schema (src/config/json-schema.ts):
 * - config/gatehouse.schema.json is what `gatehouse config schema` prints (it cannot go stale);
 * - it is a valid draft 2020-12 schema, and every full example config validates against it as
 *   written (config/*.yaml, docs/examples/**, the Kubernetes ConfigMap's gatehouse.yaml), and
 *   names the schema for editors;
 * - on raw files the schema agrees with the loader: `${VAR}` in checked strings, `<key>_file`
 *   secrets, unknown keys, and a reference where a number belongs.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { parse } from 'yaml';
import { configJsonSchema } from '../../../src/config/json-schema.js';
import { ConfigError, parseConfig } from '../../../src/config/load.js';
import { runChild } from '../../helpers/processes.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const COMMITTED = join(ROOT, 'config/gatehouse.schema.json');
const REGENERATE = 'npx tsx src/cli/main.ts config schema > config/gatehouse.schema.json && npx prettier --write config/gatehouse.schema.json';

const schema = configJsonSchema();
// strictRequired off: the `<key>_file` rules name keys in `not`/`anyOf` branches that list no properties.
const ajv = new Ajv2020({ allErrors: true, strict: true, strictRequired: false, allowUnionTypes: true });
addFormats.default(ajv);
const validate = ajv.compile(schema);
const problems = () => (validate.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message}`).join('; ');

const yamlFiles = (dir: string): string[] =>
  readdirSync(join(ROOT, dir), { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && /\.ya?ml$/.test(e.name))
    .map((e) => relative(ROOT, join(e.parentPath, e.name)));
const isFullConfig = (tree: unknown): tree is Record<string, unknown> => typeof tree === 'object' && tree !== null && 'server' in tree && 'connectors' in tree;

describe('config JSON Schema', () => {
  test('config/gatehouse.schema.json is what `gatehouse config schema` prints', async () => {
    const committed: unknown = JSON.parse(readFileSync(COMMITTED, 'utf8'));
    assert.deepEqual(committed, schema, `config/gatehouse.schema.json is stale; regenerate it: ${REGENERATE}`);
    const run = await runChild(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'config', 'schema'], { cwd: ROOT });
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual(JSON.parse(run.stdout), schema);
    const usage = await runChild(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'config', 'nonsense'], { cwd: ROOT });
    assert.equal(usage.code, 64);
    assert.match(usage.stderr, /usage: gatehouse config schema/);
  });

  test('is a draft 2020-12 schema', () => {
    assert.equal(schema.$schema, 'https://json-schema.org/draft/2020-12/schema');
    assert.equal(ajv.validateSchema(schema), true, JSON.stringify(ajv.errors));
  });

  test('every full example config validates as written, and names the schema', () => {
    const files = [...yamlFiles('config'), ...yamlFiles('docs/examples')];
    const configs = files.map((file) => ({ file, text: readFileSync(join(ROOT, file), 'utf8') })).filter(({ text }) => isFullConfig(parse(text)));
    assert.ok(configs.length >= 2, `example configs found: ${files.join(', ')}`);
    for (const { file, text } of configs) {
      assert.equal(validate(parse(text)), true, `${file}: ${problems()}`);
      const relativeSchema = relative(join(ROOT, file, '..'), COMMITTED);
      assert.equal(text.split('\n')[0], `# yaml-language-server: $schema=${relativeSchema.startsWith('.') ? '' : './'}${relativeSchema}`, file);
    }
    // The Kubernetes manifests carry a config inside a ConfigMap.
    const configMap = parse(readFileSync(join(ROOT, 'deploy/kubernetes/configmap.yaml'), 'utf8')) as { data: Record<string, string> };
    assert.equal(validate(parse(configMap.data['gatehouse.yaml'])), true, `deploy/kubernetes/configmap.yaml: ${problems()}`);
  });

  describe('agrees with the loader on raw files', () => {
    const base = {
      server: { public_url: 'http://127.0.0.1:8080' },
      connectors: [{ type: 'oidc', id: 'corp', issuer: 'https://idp.example.com', client_id: 'gatehouse', client_secret: '${CORP_SECRET}' }],
    };
    const dir = mkdtempSync(join(tmpdir(), 'gatehouse-schema-'));
    after(() => rmSync(dir, { recursive: true, force: true }));
    const secretFile = join(dir, 'secret');
    writeFileSync(secretFile, 'generated-at-test-time\n');
    const env = { CORP_SECRET: 'from-env', PUBLIC_URL: 'https://gatehouse.example.com', LISTEN: '0.0.0.0:8080', HOPS: '2', SECRET_FILE: secretFile };
    const loads = (tree: unknown) => {
      try {
        parseConfig(tree, { env, baseDir: ROOT });
        return true;
      } catch (err) {
        if (err instanceof ConfigError) return false;
        throw err;
      }
    };
    const cases: [string, unknown, boolean][] = [
      ['the base config', base, true],
      ['${VAR} in a url and a host:port', { ...base, server: { public_url: '${PUBLIC_URL}', listen: '${LISTEN}' } }, true],
      ['${VAR:-default} in an enum', { ...base, audit: { backend: '${AUDIT_BACKEND:-file}' } }, true],
      ['a reference where a number belongs', { ...base, server: { ...base.server, trust_proxy_hops: '${HOPS}' } }, false],
      ['a duration from a reference', { ...base, tokens: { ttl: '${TOKEN_TTL:-10m}' } }, true],
      ['an unknown key', { ...base, server: { ...base.server, listen_port: 8080 } }, false],
      ['a malformed host:port', { ...base, server: { ...base.server, listen: 'localhost' } }, false],
      ['a secret from <key>_file', { ...base, connectors: [{ ...base.connectors[0], client_secret: undefined, client_secret_file: '${SECRET_FILE}' }] }, true],
      ['a secret and its _file both', { ...base, connectors: [{ ...base.connectors[0], client_secret_file: '${SECRET_FILE}' }] }, false],
      [
        'a required password from password_file',
        { ...base, connectors: [{ type: 'demo', users: [{ username: 'a', email: 'a@example.com', password_file: '${SECRET_FILE}' }] }] },
        true,
      ],
      ['a demo user without a password', { ...base, connectors: [{ type: 'demo', users: [{ username: 'a', email: 'a@example.com' }] }] }, false],
      ['no connectors', { server: base.server, connectors: [] }, false],
    ];
    for (const [name, tree, valid] of cases) {
      test(name, () => {
        const raw: unknown = JSON.parse(JSON.stringify(tree));
        assert.equal(loads(raw), valid, `the loader ${valid ? 'refuses' : 'accepts'} it`);
        assert.equal(validate(raw), valid, `the schema ${valid ? 'refuses' : 'accepts'} it: ${problems()}`);
      });
    }
  });
});
