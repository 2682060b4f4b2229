import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { checkCertificate, HOST_CERT, parseCertificate, signCertificate, USER_CERT, type CertFields } from '../../../src/ssh-ca/certs.js';
import { generateEd25519, openSshPrivateKey, parsePublicKeyLine, publicKeyLine, publicKeyOf, readEd25519PrivateKey } from '../../../src/ssh-ca/keys.js';
import { requireBinary } from '../../helpers/peers/services.js';
import { keygen } from '../../helpers/peers/ssh.js';

const dir = mkdtempSync(join(tmpdir(), 'gatehouse-certs-unit-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const ca = generateEd25519();
const otherCa = generateEd25519();
const now = 1_800_000_000;
const subject = publicKeyOf(generateEd25519());
const fields = (over: Partial<CertFields> = {}): CertFields => ({
  publicKey: subject,
  type: USER_CERT,
  keyId: 'alice',
  principals: ['root'],
  validAfter: now - 60,
  validBefore: now + 3600,
  extensions: { 'permit-pty': '' },
  ...over,
});
const check = (blob: Buffer, over: Partial<Parameters<typeof checkCertificate>[1]> = {}) =>
  checkCertificate(parseCertificate(blob), { trustedCas: [publicKeyOf(ca).blob], type: USER_CERT, now, ...over });
const rejects = async (promise: Promise<unknown>, code: string) => assert.rejects(promise, (err: { code?: string }) => err.code === code);

describe('OpenSSH certificates', () => {
  test('ssh-keygen reads what we sign, for ed25519, ECDSA and RSA subject keys', async (t) => {
    if (!requireBinary(t, 'ssh-keygen')) return;
    for (const type of ['ed25519', 'ecdsa', 'rsa'] as const) {
      const path = keygen(dir, `k-${type}`, type);
      const publicKey = parsePublicKeyLine(readFileSync(`${path}.pub`, 'utf8'));
      const cert = signCertificate(ca, fields({ publicKey, principals: ['root', 'ubuntu'], criticalOptions: { 'source-address': '10.0.0.0/8' } }));
      writeFileSync(`${path}-cert.pub`, `${cert.certType} ${cert.blob.toString('base64')}\n`);
      const out = spawnSync('ssh-keygen', ['-L', '-f', `${path}-cert.pub`], { encoding: 'utf8' });
      assert.equal(out.status, 0, out.stderr);
      assert.match(out.stdout, /user certificate/);
      assert.match(out.stdout, /Principals: \n\s+root\n\s+ubuntu/);
      assert.match(out.stdout, /source-address 10\.0\.0\.0\/8/);
      const parsed = parseCertificate(cert.blob);
      assert.deepEqual(parsed.publicKey.blob, publicKey.blob);
      await check(cert.blob, { knownCriticalOptions: ['source-address'] });
    }
  });

  test('our private key files are what ssh-keygen expects', (t) => {
    if (!requireBinary(t, 'ssh-keygen')) return;
    const key = generateEd25519();
    writeFileSync(join(dir, 'ours'), openSshPrivateKey(key, 'c'), { mode: 0o600 });
    const out = spawnSync('ssh-keygen', ['-y', '-f', join(dir, 'ours')], { encoding: 'utf8' });
    assert.equal(out.stdout.trim(), publicKeyLine(publicKeyOf(key), 'c'));
    assert.deepEqual(publicKeyOf(readEd25519PrivateKey(openSshPrivateKey(key))).blob, publicKeyOf(key).blob);
  });

  test('refuses: another CA, expired, not yet valid, host certificate, wrong principal, unknown critical option', async () => {
    await check(signCertificate(ca, fields()).blob);
    await rejects(check(signCertificate(otherCa, fields()).blob), 'cert_untrusted');
    await rejects(check(signCertificate(ca, fields({ validBefore: now - 1 })).blob), 'cert_expired');
    await rejects(check(signCertificate(ca, fields({ validAfter: now + 10 })).blob), 'cert_not_yet_valid');
    await rejects(check(signCertificate(ca, fields({ type: HOST_CERT })).blob), 'cert_wrong_type');
    await rejects(check(signCertificate(ca, fields()).blob, { principal: 'ubuntu' }), 'cert_principal');
    await rejects(check(signCertificate(ca, fields({ criticalOptions: { 'force-command': '/bin/true' } })).blob), 'cert_invalid');
  });

  test('refuses tampered and malformed certificates', async () => {
    const blob = signCertificate(ca, fields()).blob;
    // Change one byte of the key id ("alice" → "blice"): the CA signature no longer matches.
    const tampered = Buffer.from(blob);
    tampered[tampered.indexOf(Buffer.from('alice'))] = 'b'.charCodeAt(0);
    await rejects(check(tampered), 'cert_untrusted');
    assert.throws(() => parseCertificate(blob.subarray(0, blob.length - 10)), { code: 'cert_invalid' });
    assert.throws(() => parseCertificate(Buffer.concat([blob, Buffer.from([0])])), { code: 'cert_invalid' });
    assert.throws(() => parseCertificate(subject.blob), { code: 'cert_invalid' });
    assert.throws(() => parseCertificate(Buffer.alloc(0)), { code: 'cert_invalid' });
  });

  test('public key lines: type must match the blob, DSA and garbage refused', () => {
    const line = publicKeyLine(subject, 'me');
    assert.deepEqual(parsePublicKeyLine(line).blob, subject.blob);
    assert.throws(() => parsePublicKeyLine(line.replace('ssh-ed25519', 'ssh-rsa')), { code: 'invalid_public_key' });
    assert.throws(() => parsePublicKeyLine('ssh-dss AAAAB3NzaC1kc3MAAAA='), { code: 'invalid_public_key' });
    assert.throws(() => parsePublicKeyLine('hello'), { code: 'invalid_public_key' });
  });
});
