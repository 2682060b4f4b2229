import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { GatehouseError } from '../../../core/errors.js';
import { samlError } from '../errors.js';

/*
 * The schema check enforces that every SAML protocol message we act on is valid against the
 * OASIS SAML 2.0 protocol schema (with the assertion, XML-DSig and XML-Enc schemas it imports),
 * validated by the system `xmllint` (libxml2) in a short-lived child process:
 *   - offline: `--nonet`, and the four XSDs ship in ./schemas (DOCTYPEs removed);
 *   - no leak: each validation is its own process, so nothing accumulates in ours (the
 *     Emscripten xmllint that samlify's docs suggest grows without bound under load);
 *   - bounded: at most `concurrency` processes at once, each killed after `timeoutMs`.
 * Recent results are memoised by SHA-256 of the exact text, so samlify's own call to the
 * validator (its second opinion, after ours) does not spawn a second process for the same bytes.
 */

export interface SchemaValidator {
  validate(xml: string): Promise<void>;
}

/** Where the XSDs are, from src/ (tsx) or from dist/ (compiled: the files stay in src/). */
export function schemaDir(): string {
  const candidates = ['../schemas/', '../../../../src/connectors/saml/schemas/', '../../../../../src/connectors/saml/schemas/'];
  const found = candidates.map((c) => fileURLToPath(new URL(c, import.meta.url))).find((dir) => existsSync(`${dir}saml-schema-protocol-2.0.xsd`));
  if (!found) throw new Error('the SAML XSDs (src/connectors/saml/schemas) are missing');
  return found;
}

export function createXmllintValidator(options: { binary?: string; concurrency?: number; timeoutMs?: number } = {}): SchemaValidator {
  const binary = options.binary ?? 'xmllint';
  const schema = `${schemaDir()}saml-schema-protocol-2.0.xsd`;
  const concurrency = options.concurrency ?? 4;
  const timeoutMs = options.timeoutMs ?? 5000;
  let running = 0;
  const queue: (() => void)[] = [];
  const passed = new Map<string, number>();

  const slot = async () => {
    if (running >= concurrency) await new Promise<void>((resolve) => queue.push(resolve));
    running++;
  };
  const release = () => {
    running--;
    queue.shift()?.();
  };

  const run = (xml: string) =>
    new Promise<{ code: number | null; stderr: string }>((resolve, reject) => {
      const child = spawn(binary, ['--noout', '--nonet', '--schema', schema, '-'], { stdio: ['pipe', 'ignore', 'pipe'] });
      let stderr = '';
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      child.stderr.setEncoding('utf8').on('data', (d: string) => {
        if (stderr.length < 4096) stderr += d;
      });
      child.on('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
      child.on('close', (code) => {
        clearTimeout(timer);
        resolve({ code, stderr });
      });
      child.stdin.on('error', () => {}); // xmllint may exit before reading everything
      child.stdin.end(xml);
    });

  return {
    async validate(xml) {
      const digest = createHash('sha256').update(xml).digest('base64url');
      const seen = passed.get(digest);
      if (seen !== undefined && Date.now() - seen < 60_000) return;
      await slot();
      let result: { code: number | null; stderr: string };
      try {
        result = await run(xml);
      } catch (err) {
        throw new GatehouseError('saml_validator_unavailable', 'SAML schema validation is not available on this server.', {
          status: 503,
          expose: true,
          cause: err,
        });
      } finally {
        release();
      }
      if (result.code !== 0) {
        const first = result.stderr.split('\n').find((l) => l.includes('error')) ?? '';
        throw samlError('saml_schema_invalid', 'The SAML message does not conform to the SAML 2.0 schema.', {
          details: { schema_error: first.replace(/^-:\d+:\s*/, '').slice(0, 300) },
        });
      }
      if (passed.size >= 256) passed.delete(passed.keys().next().value!);
      passed.set(digest, Date.now());
    },
  };
}
