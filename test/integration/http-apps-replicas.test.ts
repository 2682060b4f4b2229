import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { policyFromConfig } from '../../src/access/index.js';
import { createFileAuditSink } from '../../src/audit/file.js';
import { parseConfig } from '../../src/config/load.js';
import { createAppRegistry } from '../../src/proxy/http/apps.js';
import { createIdentityEngine } from '../../src/proxy/http/identity.js';
import { createSessionManager } from '../../src/sessions/sessions.js';
import { createStore } from '../../src/store/index.js';
import { createTokenIssuer } from '../../src/tokens/issuer.js';
import { createKeyManager } from '../../src/tokens/keys.js';
import { eventually } from '../helpers/eventually.js';
import { REDIS_URL, requireRedis } from '../helpers/peers/services.js';

/** Two replicas (two identity engines) sharing one Redis: a logout on one revokes the other's cache at once. */
test('a logout on one replica drops the cached app decision on another (store pub/sub)', async (t) => {
  if (!(await requireRedis(t))) return;
  const dir = mkdtempSync(join(tmpdir(), 'gh-replicas-'));
  const config = parseConfig({
    server: { public_url: 'https://gatehouse.example.com' },
    connectors: [{ type: 'demo' }],
    roles: [{ name: 'dev' }],
    mappings: [{ match: { claim: 'groups', value: 'devs' }, roles: ['dev'] }],
    apps: [{ name: 'wiki', upstream: 'http://w', roles: ['dev'], trust_gateway_origin: true }],
  });
  const prefix = `gatehouse-test:${process.pid}:${Date.now()}:`;
  const replica = () => {
    const store = createStore({ redisUrl: REDIS_URL, prefix });
    const sessions = createSessionManager({ store, idleTtlMs: 3_600_000, absoluteTtlMs: 43_200_000 });
    const keys = createKeyManager({ alg: 'ES256', store, dataDir: dir, rotateEveryMs: 86_400_000, maxTokenTtlMs: 600_000 });
    const issuer = createTokenIssuer({ issuer: 'https://gatehouse.example.com', keys, defaultTtlMs: 600_000 });
    const audit = createFileAuditSink({ dir: join(dir, `audit-${Math.random()}`) });
    const engine = createIdentityEngine({ sessions, store, audit, issuer, policy: policyFromConfig(config) });
    return { store, sessions, engine, audit };
  };
  const a = replica();
  const b = replica();
  try {
    // The Redis store connects in the background and fails fast until then.
    for (const r of [a, b])
      while (
        !(await r.store.ping().then(
          () => true,
          () => false,
        ))
      )
        await new Promise((res) => setTimeout(res, 20));
    const wiki = createAppRegistry(config).byName.get('wiki')!;
    const session = await a.sessions.create({ connector: 'demo', subject: 'u1', username: 'ana', groups: ['devs'], claims: {} });
    const credential = { kind: 'session' as const, id: session.id };
    const ctx = { context: {} };
    assert.ok((await b.engine.decide(credential, wiki, ctx))?.allowed);
    assert.ok(b.engine.peek(credential, wiki), 'replica b has the decision cached');
    // b subscribes asynchronously (retrying until the store answers): wait until it listens.
    while (!b.sessions.listening()) await new Promise((r) => setTimeout(r, 10));
    await a.sessions.destroy(session.id);
    await eventually(() => !b.engine.peek(credential, wiki), { timeoutMs: 3000, intervalMs: 10, message: 'replica b kept the revoked decision' });
    assert.equal(b.engine.peek(credential, wiki), undefined, 'revoked on replica b without waiting for the cache TTL');
    assert.equal(await b.engine.decide(credential, wiki, ctx), null);
  } finally {
    for (const r of [a, b]) {
      await r.engine.close();
      await r.audit.close();
      await r.store.close();
    }
  }
});
