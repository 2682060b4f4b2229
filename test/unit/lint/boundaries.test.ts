// The import boundaries of src/ (the table in eslint.config.js): `npm run lint` fails on an import
// that points the wrong way, passes an allowed one, allows type-only imports only where the table
// says `type:`, catches a proxy importing a sibling proxy by a relative path, and has a row for
// every folder of src/.
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ESLint } from 'eslint';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const RULE = '@typescript-eslint/no-restricted-imports';
const eslint = new ESLint({ cwd: root });

/** The boundary errors for `code` linted as if it were the file `file` (relative to the repo). */
async function boundaryErrors(file: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(`${code}\nexport const used = [];\n`, { filePath: path.join(root, file) });
  return result.messages.filter((m) => m.ruleId === RULE).map((m) => m.message);
}

describe('import boundaries', () => {
  test('core may not import web', async () => {
    const errors = await boundaryErrors('src/core/x.ts', "import { createApp } from '../web/app.js';\nvoid createApp;");
    assert.equal(errors.length, 1);
    assert.match(errors[0], /src\/core may not import web/);
  });

  test('core may import core', async () => {
    assert.deepEqual(await boundaryErrors('src/core/x.ts', "import { randomId } from './ids.js';\nvoid randomId;"), []);
  });

  test('type-only imports count too, except where the table allows them', async () => {
    const typeOfWeb = "import type { CookiePolicy } from '../../web/cookies.js';\nexport type C = CookiePolicy;";
    assert.equal((await boundaryErrors('src/proxy/http/x.ts', typeOfWeb)).length, 1);
    const typeOfConfig = "import type { Config } from '../../config/schema.js';\nexport type C = Config;";
    assert.deepEqual(await boundaryErrors('src/proxy/http/x.ts', typeOfConfig), []);
    const valueOfConfig = "import { parseConfig } from '../../config/load.js';\nvoid parseConfig;";
    const errors = await boundaryErrors('src/proxy/http/x.ts', valueOfConfig);
    assert.equal(errors.length, 1);
    assert.match(errors[0], /may only import types from config/);
  });

  test('a proxy may not import a sibling proxy, however the path is written', async () => {
    for (const spec of ['../../http/respond.js', '../../../proxy/http/respond.js']) {
      const errors = await boundaryErrors('src/proxy/ssh/terminal/x.ts', `import { wantsHtml } from '${spec}';\nvoid wantsHtml;`);
      assert.equal(errors.length, 1, spec);
    }
    // Its own capability and the shared files of src/proxy/ are fine.
    const inward =
      "import { bridgeSession } from '../session.js';\nimport { sendRawError } from '../../upgrade-response.js';\nvoid bridgeSession; void sendRawError;";
    assert.deepEqual(await boundaryErrors('src/proxy/ssh/terminal/x.ts', inward), []);
  });

  test('src/kube and src/proxy/kube are told apart', async () => {
    const proxyKube = "import type { KubeProxy } from '../proxy/kube/index.js';\nexport type K = KubeProxy;";
    assert.deepEqual(await boundaryErrors('src/web/x.ts', proxyKube), []);
    assert.equal((await boundaryErrors('src/cli/x.ts', proxyKube)).length, 1);
    const kube = "import { rbacManifests } from '../kube/artefacts.js';\nvoid rbacManifests;";
    assert.deepEqual(await boundaryErrors('src/cli/x.ts', kube), []);
  });

  test('only `gatehouse serve` may import the composition root', async () => {
    const code = "import { createGateway } from '../../main.js';\nvoid createGateway;";
    assert.deepEqual(await boundaryErrors('src/cli/commands/serve.ts', code), []);
    assert.equal((await boundaryErrors('src/cli/commands/login.ts', code)).length, 1);
  });

  test('every folder of src/ has a row in the table', async () => {
    const folders = (dir: string): string[] =>
      readdirSync(path.join(root, 'src', dir), { withFileTypes: true })
        .filter((e) => e.isDirectory())
        .map((e) => (dir ? `${dir}/${e.name}` : e.name));
    for (const folder of [...folders(''), ...folders('proxy')]) {
      const config = await eslint.calculateConfigForFile(path.join(root, 'src', folder, 'x.ts'));
      const patterns = config.rules?.[RULE]?.[1]?.patterns;
      assert.ok(Array.isArray(patterns) && patterns.length > 0, `src/${folder} has no row in eslint.config.js's boundaries`);
    }
  });
});
