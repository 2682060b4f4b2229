import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { decodeJwt } from 'jose';
import { createFileAuditSink, readAuditEvents } from '../../../../src/audit/file.js';
import { parseConfig } from '../../../../src/config/load.js';
import { policyFromConfig } from '../../../../src/access/index.js';
import { createAppRegistry } from '../../../../src/proxy/http/apps.js';
import { createIdentityEngine, DECISION_TTL_MS } from '../../../../src/proxy/http/identity.js';
import { createSessionManager } from '../../../../src/sessions/sessions.js';
import { createMemoryStore } from '../../../../src/store/memory.js';
import { createTokenIssuer } from '../../../../src/tokens/issuer.js';
import { createKeyManager } from '../../../../src/tokens/keys.js';

function setUp() {
  let now = Date.parse('2026-11-26T12:00:00Z');
  const clock = { now: () => now };
  const dir = mkdtempSync(join(tmpdir(), 'gh-apps-'));
  const config = parseConfig({
    server: { public_url: 'https://gatehouse.example.com' },
    connectors: [{ type: 'demo' }],
    roles: [{ name: 'dev' }],
    mappings: [{ match: { claim: 'groups', value: 'devs' }, roles: ['dev'] }],
    apps: [
      { name: 'wiki', upstream: 'http://w', roles: ['dev'], trust_gateway_origin: true },
      { name: 'admin', upstream: 'http://a', roles: ['sre'], trust_gateway_origin: true },
    ],
  });
  const store = createMemoryStore({ clock });
  const sessions = createSessionManager({ store, idleTtlMs: 43_200_000, absoluteTtlMs: 43_200_000, clock });
  const keys = createKeyManager({ alg: 'ES256', dataDir: dir, rotateEveryMs: 86_400_000, maxTokenTtlMs: 600_000, clock });
  const issuer = createTokenIssuer({ issuer: 'https://gatehouse.example.com', keys, defaultTtlMs: 600_000, clock });
  let mints = 0;
  const counting = { ...issuer, mint: (o: Parameters<typeof issuer.mint>[0]) => (mints++, issuer.mint(o)) };
  const audit = createFileAuditSink({ dir: join(dir, 'audit') });
  const engine = createIdentityEngine({ sessions, store, audit, issuer: counting, policy: policyFromConfig(config), clock });
  const apps = createAppRegistry(config);
  const identity = { connector: 'demo', subject: 'u1', username: 'ana', email: 'ana@example.com', groups: ['devs'], claims: {} };
  return { engine, sessions, apps, identity, audit: () => readAuditEvents(join(dir, 'audit')), mints: () => mints, advance: (ms: number) => (now += ms) };
}

const ctx = { context: { requestId: 'req-1' } };

test('decisions are cached: one session read, one signature and one app.session.start for many requests', async () => {
  const s = setUp();
  const session = await s.sessions.create(s.identity);
  const wiki = s.apps.byName.get('wiki')!;
  const credential = { kind: 'session' as const, id: session.id };
  const results = await Promise.all(Array.from({ length: 20 }, () => s.engine.decide(credential, wiki, ctx)));
  assert.ok(results.every((d) => d?.allowed && d.assertion === results[0]!.assertion));
  assert.equal(s.mints(), 1, 'concurrent first requests share one signature');
  assert.ok(s.engine.peek(credential, wiki), 'cached for the next request');
  assert.deepEqual(decodeJwt(results[0]!.assertion!).aud, 'gatehouse-app:wiki');

  // After the decision TTL the session is read again, but the assertion is still fresh: no new signature.
  s.advance(DECISION_TTL_MS + 1);
  assert.equal(s.engine.peek(credential, wiki), undefined);
  const again = await s.engine.decide(credential, wiki, ctx);
  assert.equal(again!.assertion, results[0]!.assertion);
  assert.equal(s.mints(), 1);
  // Past half of its lifetime (5 min), a new one is signed.
  s.advance(150_001);
  const renewed = await s.engine.decide(credential, wiki, ctx);
  assert.notEqual(renewed!.assertion, results[0]!.assertion);
  assert.equal(s.mints(), 2);
  assert.equal(s.audit().filter((e) => e.type === 'app.session.start').length, 1);
});

test('a logout through the session manager drops cached decisions at once', async () => {
  const s = setUp();
  const sessions = s.sessions;
  const session = await sessions.create(s.identity);
  const wiki = s.apps.byName.get('wiki')!;
  const credential = { kind: 'session' as const, id: session.id };
  assert.ok((await s.engine.decide(credential, wiki, ctx))?.allowed);
  await sessions.destroy(session.id);
  assert.equal(s.engine.peek(credential, wiki), undefined);
  assert.equal(await s.engine.decide(credential, wiki, ctx), null);
});

test('a denial is audited with the app and roles; unknown credentials resolve to null', async () => {
  const s = setUp();
  const session = await s.sessions.create(s.identity);
  const decision = await s.engine.decide({ kind: 'session', id: session.id }, s.apps.byName.get('admin')!, ctx);
  assert.equal(decision?.allowed, false);
  assert.equal(decision?.assertion, undefined, 'no assertion for a denied app');
  const denied = s.audit().find((e) => e.type === 'access.denied')!;
  assert.equal(denied.code, 'GH3021W');
  assert.deepEqual(denied.roles, ['dev']);
  assert.equal((denied.details as { app: string }).app, 'admin');
  assert.equal(denied.request_id, 'req-1');
  assert.equal(await s.engine.decide({ kind: 'session', id: 'A'.repeat(43) }, s.apps.byName.get('wiki')!, ctx), null);
  assert.equal(await s.engine.decide({ kind: 'app-session', id: 'x', app: 'wiki' }, s.apps.byName.get('wiki')!, ctx), null);
  assert.equal(await s.engine.decide({ kind: 'bearer', token: 'a.b.c' }, s.apps.byName.get('wiki')!, ctx), null);
});

test('the assertion never outlives the session', async () => {
  const s = setUp();
  const session = await s.sessions.create(s.identity);
  s.advance(43_200_000 - 60_000); // one minute of the session left
  const decision = await s.engine.decide({ kind: 'session', id: session.id }, s.apps.byName.get('wiki')!, ctx);
  const claims = decodeJwt(decision!.assertion!);
  assert.ok(claims.exp! * 1000 <= session.expiresAt);
});
