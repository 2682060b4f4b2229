/**
 * SSH authentication at the gateway's listener, with the real OpenSSH client: every refused
 * public key is audited (`ssh.auth` failure with the reason and the key), and failed attempts
 * are limited per client address and per SSH username; past the limit an attempt is refused
 * without verification (even with a valid certificate), audited once per window.
 *
 * Hostile cases: 7 (a plain uncertified key; one connection offering 30 plain keys; a certificate from a foreign CA; 10 forged
 * certificates naming one person, then her genuine one; a shared SSH username that must not lock
 * out others; 20 failures spread over many usernames from one address; a valid certificate during
 * the address lock-out).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test, type TestContext } from 'node:test';
import ssh2 from 'ssh2';
import type { AuditEvent } from '../../../src/audit/sink.js';
import { startGateway, type TestGateway } from '../../helpers/gateways/gateway.js';
import { requireBinary } from '../../helpers/peers/services.js';
import { fetchUserCert, keygen, mintGatewayToken, runSsh, SSH_TEST_POLICY } from '../../helpers/peers/ssh.js';

const dir = mkdtempSync(join(tmpdir(), 'gh-ssh-auth-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let plainKey: string;
let foreignKey: string;

before(() => {
  if (spawnSync('ssh-keygen', ['-h']).error) return;
  plainKey = keygen(dir, 'plain');
  // A certificate from a CA the gateway does not know, for the same principals a real one has.
  const foreignCa = keygen(dir, 'foreign-ca');
  foreignKey = keygen(dir, 'foreign');
  const r = spawnSync('ssh-keygen', ['-q', '-s', foreignCa, '-I', 'alice', '-n', 'alice,root,gatehouse', '-V', '-1m:+1h', `${foreignKey}.pub`]);
  assert.equal(r.status, 0, String(r.stderr));
});

/** Waits out the last seconds of a minute, so a test's fixed one-minute window does not roll over. */
async function freshWindow() {
  const s = new Date().getUTCSeconds();
  if (s >= 45) await new Promise((r) => setTimeout(r, (61 - s) * 1000));
}

async function gateway(t: TestContext): Promise<{ gw: TestGateway; port: number } | undefined> {
  if (!requireBinary(t, 'ssh') || !requireBinary(t, 'ssh-keygen')) return undefined;
  const gw = await startGateway({ ...SSH_TEST_POLICY, ssh: { listen: '127.0.0.1:0' } });
  t.after(() => gw.stop());
  return { gw, port: gw.gateway.ssh!.address().port };
}

const ssh = (port: number, user: string, key: string, cert?: string) =>
  runSsh(
    'ssh',
    [
      '-F',
      '/dev/null',
      '-p',
      String(port),
      '-i',
      key,
      ...(cert ? ['-o', `CertificateFile=${cert}`] : []),
      '-o',
      'IdentitiesOnly=yes',
      '-o',
      'IdentityAgent=none',
      '-o',
      'BatchMode=yes',
      '-o',
      'PreferredAuthentications=publickey',
      '-o',
      'StrictHostKeyChecking=no',
      '-o',
      'UserKnownHostsFile=/dev/null',
      '-o',
      'GlobalKnownHostsFile=/dev/null',
      '-o',
      'ConnectTimeout=10',
      '-o',
      'LogLevel=ERROR',
      `${user}@127.0.0.1`,
      'true',
    ],
    { timeoutMs: 20_000 },
  );

const authFailures = (gw: TestGateway, reason?: string): AuditEvent[] =>
  gw.auditEvents().filter((e) => e.type === 'ssh.auth' && e.outcome === 'failure' && (reason === undefined || e.reason === reason));
const settle = () => new Promise((r) => setTimeout(r, 300));

test('a plain public key is refused and audited with its fingerprint', async (t) => {
  const g = await gateway(t);
  if (!g) return;
  const run = await ssh(g.port, 'alice', plainKey);
  assert.equal(run.code, 255);
  assert.match(run.stderr, /Permission denied \(publickey\)/);
  const event = await g.gw.waitForEvent((e) => e.type === 'ssh.auth' && e.reason === 'cert_required');
  assert.equal(event.outcome, 'failure');
  assert.equal(event.code, 'GH3011W');
  assert.equal(event.user, 'alice');
  assert.equal(event.remote_addr, '127.0.0.1');
  assert.equal(event.details?.stage, 'gateway');
  assert.equal(event.details?.key_algo, 'ssh-ed25519');
  const expected = spawnSync('ssh-keygen', ['-lf', `${plainKey}.pub`], { encoding: 'utf8' }).stdout.split(' ')[1];
  assert.equal(event.details?.key_fingerprint, expected);
  assert.equal(g.gw.auditEvents().filter((e) => e.type === 'ssh.auth' && e.outcome === 'success').length, 0);
});

test('a certificate from a foreign CA is refused and audited', async (t) => {
  const g = await gateway(t);
  if (!g) return;
  const run = await ssh(g.port, 'alice', foreignKey, `${foreignKey}-cert.pub`);
  assert.equal(run.code, 255);
  assert.match(run.stderr, /Permission denied/);
  const event = await g.gw.waitForEvent((e) => e.type === 'ssh.auth' && e.outcome === 'failure' && e.reason === 'cert_untrusted');
  assert.equal(event.details?.key_algo, 'ssh-ed25519-cert-v01@openssh.com');
});

test('per person: 10 failures with certificates naming alice lock alice out, not the shared SSH username', { timeout: 120_000 }, async (t) => {
  const g = await gateway(t);
  if (!g) return;
  const certFor = async (username: string, groups: string[]) => {
    const key = keygen(dir, `${username}-${Date.now()}`);
    await fetchUserCert(g.gw.url, await mintGatewayToken(g.gw, { connector: 'corp', username, groups }), key);
    return key;
  };
  const alice = await certFor('alice', ['admins']);
  const bob = await certFor('bob', ['admins']);
  await freshWindow();
  // Forged certificates (a foreign CA) with key id "alice", as the shared jump user `gatehouse`.
  for (let i = 0; i < 10; i++) assert.equal((await ssh(g.port, 'gatehouse', foreignKey, `${foreignKey}-cert.pub`)).code, 255);
  // bob, same address, same SSH username: still verified and accepted (the gateway then refuses a shell).
  const bobRun = await ssh(g.port, 'gatehouse', bob, `${bob}-cert.pub`);
  assert.doesNotMatch(bobRun.stderr, /Permission denied/, 'bob authenticated');
  await settle();
  assert.equal(authFailures(g.gw).filter((e) => e.user === 'bob').length, 0);
  // alice's genuine certificate is refused without verification while her budget is used up.
  for (let i = 0; i < 3; i++) {
    const run = await ssh(g.port, 'gatehouse', alice, `${alice}-cert.pub`);
    assert.equal(run.code, 255);
    assert.match(run.stderr, /Permission denied/);
  }
  await settle();
  assert.equal(authFailures(g.gw, 'cert_untrusted').length, 10, 'only the 10 forged certificates were verified');
  const limited = authFailures(g.gw, 'ssh_rate_limited');
  assert.equal(limited.length, 1, 'audited once per window');
  assert.equal(limited[0].user, 'alice');
  assert.equal(limited[0].details?.limit, 'user');
  assert.equal(limited[0].code, 'GH3011W');
});

test('per address: 20 failures over many names lock the address out, even for a valid certificate', { timeout: 120_000 }, async (t) => {
  const g = await gateway(t);
  if (!g) return;
  const key = keygen(dir, `alice-${Date.now()}`);
  const token = await mintGatewayToken(g.gw, { connector: 'corp', username: 'alice', groups: ['admins'] });
  await fetchUserCert(g.gw.url, token, key);
  assert.ok(readFileSync(`${key}-cert.pub`, 'utf8').startsWith('ssh-ed25519-cert-v01@openssh.com'));
  await freshWindow();
  for (let i = 0; i < 20; i++) assert.equal((await ssh(g.port, `spray${i}`, plainKey)).code, 255);
  for (let i = 0; i < 3; i++) {
    const run = await ssh(g.port, 'alice', key, `${key}-cert.pub`);
    assert.equal(run.code, 255);
    assert.match(run.stderr, /Permission denied/);
  }
  await settle();
  assert.equal(authFailures(g.gw, 'cert_required').length, 20);
  const limited = authFailures(g.gw, 'ssh_rate_limited');
  assert.equal(limited.length, 1);
  assert.equal(limited[0].details?.limit, 'address');
  assert.equal(g.gw.auditEvents().filter((e) => e.type === 'ssh.auth' && e.outcome === 'success').length, 0, 'nothing accepted');
});

test('one connection offering 30 plain keys: closed after 10 attempts, counted once towards the address', { timeout: 60_000 }, async (t) => {
  const g = await gateway(t);
  if (!g) return;
  await freshWindow();
  const keys = Array.from({ length: 30 }, () => ssh2.utils.generateKeyPairSync('ed25519').private);
  let offered = 0;
  await new Promise<void>((resolve) => {
    const client = new ssh2.Client();
    client.on('error', () => resolve());
    client.on('close', () => resolve());
    client.on('ready', () => assert.fail('authenticated with a plain key'));
    client.connect({
      host: '127.0.0.1',
      port: g.port,
      username: 'mallory',
      hostVerifier: () => true,
      authHandler: (_methods, _partial, next) => {
        if (offered >= keys.length) return next(false as never);
        next({ type: 'publickey', username: 'mallory', key: keys[offered++] } as never);
      },
    });
  });
  await settle();
  const refused = authFailures(g.gw, 'cert_required');
  assert.ok(refused.length >= 1 && refused.length <= 10, `audited refusals: ${refused.length}`);
  // The client offers its next key as soon as a refusal arrives, so a key or two may be in flight
  // when the close lands: what the server answered is the audit count above; here, only that the
  // connection ended long before the client ran out of keys.
  assert.ok(offered < 20, `the server closed the connection after at most 10 attempts (${offered} of ${keys.length} offered)`);
  // Counted once: 19 more failing connections still get verified before the address is locked.
  for (let i = 0; i < 19; i++) await ssh(g.port, `spray${i}`, plainKey);
  await settle();
  assert.equal(authFailures(g.gw, 'ssh_rate_limited').length, 0);
});
