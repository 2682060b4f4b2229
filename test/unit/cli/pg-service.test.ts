// The service file merge: Gatehouse's section is added or replaced; every other section, comment
// and blank line stays as it was.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { mergeServiceEntry } from '../../../src/cli/pg-service.js';

test('adds a section to an empty file', () => {
  assert.equal(mergeServiceEntry('', 'gatehouse-a', { host: 'h', port: '1' }), '[gatehouse-a]\nhost=h\nport=1\n');
});

test('replaces its own section only, keeping the others and their comments', () => {
  const existing = '# mine\n[other]\nhost=x\n\n[gatehouse-a]\nhost=old\nport=9\n\n[more]\n# keep\nuser=u\n';
  assert.equal(mergeServiceEntry(existing, 'gatehouse-a', { host: 'new' }), '# mine\n[other]\nhost=x\n\n[more]\n# keep\nuser=u\n\n[gatehouse-a]\nhost=new\n');
});

test('a file without a final newline', () => {
  assert.equal(mergeServiceEntry('[other]\nhost=x', 'gatehouse-b', { host: 'y' }), '[other]\nhost=x\n\n[gatehouse-b]\nhost=y\n');
});
