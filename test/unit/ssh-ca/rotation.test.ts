import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { GatehouseError } from '../../../src/core/errors.js';
import { createSshCa } from '../../../src/ssh-ca/ca.js';
import { USER_CERT } from '../../../src/ssh-ca/certs.js';
import { fingerprint, generateEd25519, publicKeyOf } from '../../../src/ssh-ca/keys.js';
import { applyPhase, overlapMs, publishedKeys, type StoredCas } from '../../../src/ssh-ca/rotation.js';
import { sharedStore } from '../../helpers/shared-store.js';

const HOUR = 3_600_000;
const dirs: string[] = [];
const tempDir = () => {
  const dir = mkdtempSync(join(tmpdir(), 'gh-ssh-ca-rotation-'));
  dirs.push(dir);
  return dir;
};
after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

const code = (fn: () => unknown): string | undefined => {
  try {
    fn();
  } catch (err) {
    return (err as GatehouseError).code;
  }
  return undefined;
};
const rejectsWith = async (promise: Promise<unknown>, expected: string) =>
  assert.rejects(promise, (err: GatehouseError) => err.code === expected && err.status === 409);

describe('the rotation state machine', () => {
  let n = 0;
  const options = (now: number, force?: boolean) => ({ now, overlapMs: HOUR, force, generate: () => `key-${++n}` });
  const start: StoredCas = { user: 'old-user', host: 'old-host', createdAt: 0 };

  test('init publishes a second key, switch makes it sign and keeps the old one, finish drops the old one', () => {
    const init = applyPhase(start, 'user', 'init', options(1000));
    const next = init.rotation?.user?.next;
    assert.ok(next);
    assert.deepEqual(publishedKeys(init, 'user'), {
      state: 'init',
      since: 1000,
      signing: 'old-user',
      published: [
        { pem: 'old-user', role: 'signing' },
        { pem: next, role: 'next' },
      ],
    });
    assert.deepEqual(publishedKeys(init, 'host').published, [{ pem: 'old-host', role: 'signing' }], 'the other kind is untouched');

    const switched = applyPhase(init, 'user', 'switch', options(2000));
    assert.equal(switched.user, next, 'the stored signing key is the new one (replicas without rotation support sign with it too)');
    assert.deepEqual(publishedKeys(switched, 'user').published, [
      { pem: next, role: 'signing' },
      { pem: 'old-user', role: 'previous' },
    ]);

    const finished = applyPhase(switched, 'user', 'finish', options(2000 + HOUR));
    assert.deepEqual(finished, { user: next, host: 'old-host', createdAt: 0 });
  });

  test('phases out of order are refused with ssh_ca_phase; an early finish with ssh_ca_overlap unless forced', () => {
    assert.equal(
      code(() => applyPhase(start, 'user', 'switch', options(0))),
      'ssh_ca_phase',
    );
    assert.equal(
      code(() => applyPhase(start, 'host', 'finish', options(0))),
      'ssh_ca_phase',
    );
    assert.equal(
      code(() => applyPhase(start, 'user', 'rollback', options(0))),
      'ssh_ca_phase',
    );
    const init = applyPhase(start, 'host', 'init', options(0));
    assert.equal(
      code(() => applyPhase(init, 'host', 'init', options(0))),
      'ssh_ca_phase',
      'one rotation at a time',
    );
    assert.equal(
      code(() => applyPhase(init, 'host', 'finish', options(0))),
      'ssh_ca_phase',
    );
    const switched = applyPhase(init, 'host', 'switch', options(10));
    assert.equal(
      code(() => applyPhase(switched, 'host', 'finish', options(10 + HOUR - 1))),
      'ssh_ca_overlap',
    );
    assert.equal(applyPhase(switched, 'host', 'finish', options(10 + HOUR)).rotation, undefined);
    assert.equal(applyPhase(switched, 'host', 'finish', options(11, true)).rotation, undefined, 'forced');
  });

  test('rollback: from init the new key is dropped; from switch the old key signs again, both still published', () => {
    const init = applyPhase(start, 'user', 'init', options(0));
    assert.deepEqual(applyPhase(init, 'user', 'rollback', options(1)), start);
    const switched = applyPhase(init, 'user', 'switch', options(2));
    const back = applyPhase(switched, 'user', 'rollback', options(3));
    assert.deepEqual(publishedKeys(back, 'user'), publishedKeys({ ...init, rotation: { user: { ...init.rotation!.user!, since: 3 } } }, 'user'));
    assert.equal(publishedKeys(applyPhase(back, 'user', 'switch', options(4)), 'user').signing, init.rotation?.user?.next);
  });

  test('the overlap is the longest certificate lifetime, at least an hour, plus a minute', () => {
    assert.equal(overlapMs(8 * HOUR), 8 * HOUR + 60_000);
    assert.equal(overlapMs(60_000), HOUR + 60_000);
  });
});

describe('the SSH CA across a rotation', () => {
  const subject = publicKeyOf(generateEd25519());
  const fields = (now: number) => ({ publicKey: subject, keyId: 'alice', principals: ['alice'], validAfter: now - 60, validBefore: now + 3600 });
  const now = () => Math.floor(Date.now() / 1000);

  test('what is published, what signs and what is trusted, phase by phase', async () => {
    const ca = createSshCa({ dataDir: tempDir() });
    const first = await ca.signUser(fields(now()));
    assert.equal((await ca.userCaLines()).length, 1);
    assert.match((await ca.userCaLines())[0], /^ssh-ed25519 \S+ gatehouse-user-ca$/);

    const init = await ca.rotate('user', 'init', { overlapMs: HOUR });
    assert.deepEqual([init.from.phase, init.to.phase], ['standby', 'init']);
    const lines = await ca.userCaLines();
    assert.equal(lines.length, 2);
    assert.match(lines[1], /^ssh-ed25519 \S+ gatehouse-user-ca-next$/);
    assert.equal((await ca.signUser(fields(now()))).signatureKey.toString('base64'), first.signatureKey.toString('base64'), 'init does not change the signer');
    assert.equal((await ca.knownHostsLines('gw')).length, 1, 'the host CA has its own rotation');

    const { to } = await ca.rotate('user', 'switch', { overlapMs: HOUR });
    const second = await ca.signUser(fields(now()));
    assert.equal(fingerprint(second.signatureKey), to.signing);
    assert.equal(to.published[0].fingerprint, init.to.published[1].fingerprint, 'the key published at init signs');
    assert.equal(fingerprint(await ca.signingKey('user')), to.signing);
    for (const cert of [first, second]) assert.equal((await ca.checkUser(cert.blob, { now: now() })).type, USER_CERT, 'both keys are trusted in the overlap');

    await rejectsWith(ca.rotate('user', 'finish', { overlapMs: HOUR }), 'ssh_ca_overlap');
    await ca.rotate('user', 'finish', { overlapMs: HOUR, force: true });
    assert.deepEqual(await ca.userCaLines(), [to.published[0].line]);
    await assert.rejects(ca.checkUser(first.blob, { now: now() }), (err: GatehouseError) => err.code === 'cert_untrusted');
    await ca.checkUser(second.blob, { now: now() });
  });

  test('host rotation: known_hosts gets a line per published key, and listeners run when this instance changes a CA', async () => {
    const ca = createSshCa({ dataDir: tempDir() });
    const seen: string[] = [];
    ca.onRotate((kind) => void seen.push(kind));
    await ca.rotate('host', 'init', { overlapMs: HOUR });
    const lines = await ca.knownHostsLines('[gw]:3022,web-1');
    assert.equal(lines.length, 2);
    for (const line of lines) assert.match(line, /^@cert-authority \[gw\]:3022,web-1 ssh-ed25519 \S+ gatehouse-host-ca(-next)?$/);
    await ca.rotate('host', 'switch', { overlapMs: HOUR });
    assert.match((await ca.knownHostsLines('gw'))[1], /gatehouse-host-ca-previous$/);
    assert.deepEqual(seen, ['host', 'host']);
  });

  test('two instances on one store agree; another instance sees a phase within reloadMs', async () => {
    const store = sharedStore();
    let clock = Date.parse('2026-11-26T12:00:00Z');
    const a = createSshCa({ store, dataDir: tempDir(), clock: { now: () => clock } });
    const b = createSshCa({ store, dataDir: tempDir(), clock: { now: () => clock } });
    assert.deepEqual(await a.userCaLines(), await b.userCaLines(), 'one CA for both');
    await a.rotate('user', 'init', { overlapMs: HOUR });
    assert.equal((await b.status('user')).phase, 'standby', 'b read the document less than reloadMs ago');
    clock += 5_000;
    assert.equal((await b.status('user')).phase, 'init');
    // b runs the next phase from the stored state, not from its own view.
    await b.rotate('user', 'switch', { overlapMs: HOUR });
    clock += 5_000;
    assert.deepEqual(await a.status('user'), await b.status('user'));
    assert.equal((await a.status('user')).phase, 'switch');
  });

  test('concurrent phases on two instances: one runs, the other is refused (busy or out of order)', async () => {
    const store = sharedStore();
    const [a, b] = [createSshCa({ store, dataDir: tempDir() }), createSshCa({ store, dataDir: tempDir() })];
    await a.userCaLines();
    const results = await Promise.allSettled([a.rotate('host', 'init', { overlapMs: HOUR }), b.rotate('host', 'init', { overlapMs: HOUR })]);
    assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
    const refused = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
    assert.ok(['ssh_ca_busy', 'ssh_ca_phase'].includes((refused.reason as GatehouseError).code), String(refused.reason));
    assert.equal((await createSshCa({ store, dataDir: tempDir() }).knownHostsLines('gw')).length, 2);
  });

  test('the store away: the keys in memory keep working; a document wiped from the store is put back, not replaced', async () => {
    const store = sharedStore();
    let clock = Date.now();
    const ca = createSshCa({ store, dataDir: tempDir(), clock: { now: () => clock } });
    const lines = await ca.userCaLines();
    store.down = true;
    clock += 60_000;
    assert.deepEqual(await ca.userCaLines(), lines);
    await ca.signUser(fields(now()));
    await assert.rejects(ca.rotate('user', 'init', { overlapMs: HOUR }), (err: GatehouseError) => err.code === 'store_unavailable');
    store.down = false;
    await store.delete('ssh:ca');
    clock += 60_000;
    assert.deepEqual(await ca.userCaLines(), lines);
    assert.deepEqual(await createSshCa({ store, dataDir: tempDir() }).userCaLines(), lines, 'restored in the store for every replica');
  });
});
