import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import samlify from 'samlify';
import { parseConfig } from '../../../src/config/load.js';
import type { SamlConnectorConfig } from '../../../src/config/schema.js';
import { createSamlConnector } from '../../../src/connectors/saml.js';
import { createXmllintValidator } from '../../../src/connectors/saml/checks/schema.js';
import { createMemoryStore } from '../../../src/store/memory.js';
import { createTestSamlIdp, newKeyPair, type TestSamlIdp } from '../peers/saml-idp.js';

export interface OfflineSp {
  idp: TestSamlIdp;
  connector: ReturnType<typeof createSamlConnector>;
  store: ReturnType<typeof createMemoryStore>;
  close(): Promise<void>;
}

/**
 * A SAML connector with no HTTP around it, trusting a fresh test IdP (metadata from a file) and
 * validating with the real xmllint: for driving the ACS validation many times over (the memory
 * test, bench/saml).
 */
export function startOfflineSp(connectorId: string): OfflineSp {
  const dir = mkdtempSync(join(tmpdir(), `gatehouse-saml-${connectorId}-`));
  const idp = createTestSamlIdp();
  writeFileSync(join(dir, 'idp.xml'), idp.metadata());
  const config = parseConfig({
    server: { public_url: 'http://127.0.0.1:9' },
    state: { data_dir: dir },
    connectors: [{ id: connectorId, type: 'saml', idp_metadata_file: join(dir, 'idp.xml'), attributes: { username: 'uid' } }],
  }).connectors[0] as SamlConnectorConfig;
  const store = createMemoryStore();
  const schema = createXmllintValidator();
  samlify.setSchemaValidator(schema);
  const connector = createSamlConnector(config, { publicUrl: 'http://127.0.0.1:9', keys: newKeyPair(), schema, store });
  return {
    idp,
    connector,
    store,
    async close() {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
