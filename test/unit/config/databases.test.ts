// The databases config: names unique, tls mode disable only for loopback addresses, credentials
// one entry or a list (password_file read into password at load), role grants with labels.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { parseConfig } from '../../../src/config/load.js';
import { ConfigError } from '../../../src/core/config-error.js';
import { dbListenerHosts, dbPublicAddress } from '../../../src/config/databases.js';

const dir = mkdtempSync(join(tmpdir(), 'gh-db-config-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const base = {
  server: { public_url: 'https://gatehouse.example.com' },
  connectors: [{ type: 'demo', id: 'demo', users: [] }],
};
const problems = (raw: unknown) => {
  try {
    parseConfig(raw);
    return [];
  } catch (err) {
    if (err instanceof ConfigError)
      return err.message
        .split('\n')
        .slice(1)
        .map((l) => l.trim().replace(/^- /, ''));
    throw err;
  }
};

test('a full databases section, as the contract writes it', () => {
  writeFileSync(join(dir, 'pw'), 'secret\n');
  const config = parseConfig({
    ...base,
    databases: [
      {
        name: 'orders-pg',
        protocol: 'postgres',
        address: '10.0.0.5:5432',
        labels: { env: 'prod' },
        tls: { mode: 'verify-full', ca_file: '/etc/ca.crt' },
        credentials: { user: 'gatehouse', password_file: join(dir, 'pw') },
      },
      { name: 'local', protocol: 'postgres', address: '127.0.0.1:5432', tls: { mode: 'disable' } },
    ],
    db: { listen: '0.0.0.0:5433', public_addr: 'gatehouse.example.com:5433' },
    roles: [{ name: 'dba', databases: [{ labels: { env: '*' }, users: ['postgres', '{{email.local}}'], names: ['*'] }] }],
  });
  assert.deepEqual(config.databases[0].credentials, [{ user: 'gatehouse', password: 'secret' }]);
  assert.deepEqual(config.databases[1].credentials, []);
  assert.deepEqual(config.roles[0].databases, [{ labels: { env: ['*'] }, users: ['postgres', '{{email.local}}'], names: ['*'] }]);
  assert.equal(config.db?.max_query_chars, 4096);
  assert.equal(dbPublicAddress(config.db!, config.server.public_url), 'gatehouse.example.com:5433');
  assert.deepEqual(dbListenerHosts(config.db!, config.server.public_url), ['gatehouse.example.com', 'localhost', '127.0.0.1']);
});

test('refused: tls mode disable off loopback, an unknown protocol, duplicate names', () => {
  const found = problems({
    ...base,
    databases: [
      { name: 'a', protocol: 'postgres', address: '10.0.0.5:5432', tls: { mode: 'disable' } },
      { name: 'c', protocol: 'postgres', address: '127.0.0.1:5432' },
      { name: 'b', protocol: 'oracle', address: '127.0.0.1:1521' },
    ],
  });
  assert.ok(
    found.some((p) => p.startsWith('databases.0.tls.mode') && p.includes('loopback')),
    found.join('\n'),
  );
  assert.ok(
    found.some((p) => p.startsWith('databases.2.protocol')),
    found.join('\n'),
  );
  // (zod checks the list as a whole once every entry is valid.)
  const dup = problems({ ...base, databases: [0, 1].map(() => ({ name: 'a', protocol: 'postgres', address: '127.0.0.1:5432' })) });
  assert.ok(
    dup.some((p) => p.startsWith('databases.1.name') && p.includes('already named "a"')),
    dup.join('\n'),
  );
});

test('db.public_addr defaults to public_url’s host and the listen port', () => {
  const config = parseConfig({ ...base, db: { listen: '0.0.0.0:6543' } });
  assert.equal(dbPublicAddress(config.db!, config.server.public_url), 'gatehouse.example.com:6543');
});

test('a credential is a password or a client certificate (cert_file and key_file, with tls verify-full)', () => {
  writeFileSync(join(dir, 'pw2'), 'secret\n');
  const pg = (extra: Record<string, unknown>) => ({ name: 'pg', protocol: 'postgres', address: '127.0.0.1:5432', ...extra });
  const config = parseConfig({
    ...base,
    databases: [
      pg({
        credentials: [
          { user: 'app', cert_file: '/etc/app.crt', key_file: '/etc/app.key' },
          { user: '*', password: 'pw' },
        ],
      }),
    ],
  });
  assert.deepEqual(config.databases[0].credentials, [
    { user: 'app', cert_file: '/etc/app.crt', key_file: '/etc/app.key' },
    { user: '*', password: 'pw' },
  ]);
  const found = (credentials: unknown, tls?: unknown) => problems({ ...base, databases: [pg({ credentials, ...(tls ? { tls } : {}) })] });
  const cert = { cert_file: '/etc/app.crt', key_file: '/etc/app.key' };
  assert.deepEqual(found({ user: 'app', password: 'pw', ...cert }), [
    'databases.0.credentials: a credential is a password (or password_file) or a client certificate (cert_file, key_file), not both',
  ]);
  assert.deepEqual(found([{ user: 'app', password_file: join(dir, 'pw2'), cert_file: '/etc/app.crt' }]), [
    'databases.0.credentials.0: a credential is a password (or password_file) or a client certificate (cert_file, key_file), not both',
  ]);
  assert.deepEqual(found({ user: 'app', cert_file: '/etc/app.crt' }), [
    'databases.0.credentials.key_file: a client certificate needs both cert_file and key_file',
  ]);
  assert.deepEqual(found({ user: 'app' }), ['databases.0.credentials: set password (or password_file), or cert_file and key_file']);
  assert.deepEqual(found({ user: 'app', ...cert }, { mode: 'disable' }), [
    'databases.0.credentials: a client-certificate credential (cert_file, key_file) needs tls.mode verify-full',
  ]);
});
