import assert from 'node:assert/strict';
import { mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { base64url, calculateJwkThumbprint, decodeProtectedHeader, generateKeyPair, SignJWT, UnsecuredJWT } from 'jose';
import { createTokenIssuer } from '../../../src/tokens/issuer.js';
import { createKeyManager } from '../../../src/tokens/keys.js';

const MINUTE = 60_000;

function setUp(alg: 'ES256' | 'RS256' = 'ES256') {
  let now = Date.parse('2026-11-26T12:00:00Z');
  const clock = { now: () => now };
  const dataDir = mkdtempSync(join(tmpdir(), 'gh-keys-'));
  const options = { alg, dataDir, rotateEveryMs: 60 * MINUTE, maxTokenTtlMs: 10 * MINUTE, clock };
  const keys = createKeyManager(options);
  const issuer = createTokenIssuer({ issuer: 'https://gate.example.com', keys, defaultTtlMs: 10 * MINUTE, clock });
  return { keys, issuer, dataDir, options, advance: (ms: number) => (now += ms), clock };
}

describe('signing keys', () => {
  test('generated once, persisted 0600, kid is the JWK thumbprint, reloaded after restart', async () => {
    const { keys, dataDir, options } = setUp();
    const {
      keys: [jwk],
    } = await keys.jwks();
    assert.equal(jwk.kid, await calculateJwkThumbprint(jwk, 'sha256'));
    assert.equal(jwk.alg, 'ES256');
    assert.equal((jwk as { d?: string }).d, undefined);
    assert.equal(statSync(join(dataDir, 'signing-keys.json')).mode & 0o777, 0o600);
    const restarted = createKeyManager(options);
    assert.deepEqual(await restarted.jwks(), await keys.jwks());
  });

  test('RS256 is available', async () => {
    const { issuer } = setUp('RS256');
    const token = await issuer.mint({ subject: 'alice', audience: 'gatehouse' });
    assert.equal(decodeProtectedHeader(token).alg, 'RS256');
    assert.equal((await issuer.verify(token, { audience: 'gatehouse' })).sub, 'alice');
  });

  test('rotation keeps the old public key until its tokens have expired', async () => {
    const { keys, issuer, advance } = setUp();
    const old = await issuer.mint({ subject: 'alice', audience: 'gatehouse' });
    await keys.rotate();
    assert.equal((await keys.jwks()).keys.length, 2);
    assert.equal((await issuer.verify(old, { audience: 'gatehouse' })).sub, 'alice', 'old token still verifies');
    const fresh = await issuer.mint({ subject: 'bob', audience: 'gatehouse' });
    assert.notEqual(decodeProtectedHeader(fresh).kid, decodeProtectedHeader(old).kid);
    advance(11 * MINUTE);
    assert.equal((await keys.jwks()).keys.length, 1, 'retired key dropped after the max token lifetime');
  });

  test('keys rotate on schedule', async () => {
    const { keys, advance } = setUp();
    const first = (await keys.active()).kid;
    advance(61 * MINUTE);
    assert.notEqual((await keys.active()).kid, first);
  });
});

describe('token verification fails closed', () => {
  test('valid token carries iss, aud, exp, nbf, iat, jti', async () => {
    const { issuer } = setUp();
    const claims = await issuer.verify(await issuer.mint({ subject: 'alice', audience: 'gatehouse:prod', claims: { groups: ['a'] } }), {
      audience: 'gatehouse:prod',
    });
    assert.equal(claims.iss, 'https://gate.example.com');
    assert.equal(claims.aud, 'gatehouse:prod');
    assert.ok(claims.exp && claims.nbf && claims.iat && claims.jti);
    assert.deepEqual(claims.groups, ['a']);
  });

  const reject = async (token: string, audience = 'gatehouse', message?: RegExp) => {
    const { issuer } = setUp();
    await assert.rejects(issuer.verify(token, { audience }), (err: { code: string; status: number; message: string }) => {
      assert.equal(err.code, 'invalid_token');
      assert.equal(err.status, 401);
      if (message) assert.match(err.message, message);
      return true;
    });
  };

  test('wrong audience', async () => {
    const { issuer } = setUp();
    const token = await issuer.mint({ subject: 'alice', audience: 'gatehouse:prod' });
    await assert.rejects(issuer.verify(token, { audience: 'gatehouse:dev' }), /claim "aud"/);
  });

  test('expired', async () => {
    const { issuer, advance } = setUp();
    const token = await issuer.mint({ subject: 'alice', audience: 'gatehouse' });
    advance(11 * MINUTE);
    await assert.rejects(issuer.verify(token, { audience: 'gatehouse' }), /expired/);
  });

  test('not yet valid (nbf in the future)', async () => {
    const { issuer, advance } = setUp();
    advance(5 * MINUTE);
    const token = await issuer.mint({ subject: 'alice', audience: 'gatehouse' });
    advance(-5 * MINUTE);
    await assert.rejects(issuer.verify(token, { audience: 'gatehouse' }), /nbf|iat/);
  });

  test('alg none', async () => {
    const unsigned = new UnsecuredJWT({ sub: 'alice' })
      .setIssuer('https://gate.example.com')
      .setAudience('gatehouse')
      .setIssuedAt()
      .setExpirationTime('5m')
      .encode();
    await reject(unsigned, 'gatehouse', /algorithm|malformed/);
  });

  test('signed by a foreign key with our kid', async () => {
    const { issuer } = setUp();
    const ours = await issuer.mint({ subject: 'alice', audience: 'gatehouse' });
    const { privateKey } = await generateKeyPair('ES256');
    const forged = await new SignJWT({})
      .setProtectedHeader({ alg: 'ES256', kid: decodeProtectedHeader(ours).kid })
      .setIssuer('https://gate.example.com')
      .setSubject('mallory')
      .setAudience('gatehouse')
      .setIssuedAt()
      .setExpirationTime('5m')
      .sign(privateKey);
    await assert.rejects(issuer.verify(forged, { audience: 'gatehouse' }), /signature/);
  });

  test('another issuer, HS256 and garbage', async () => {
    const { issuer } = setUp();
    const other = createTokenIssuer({ issuer: 'https://other.example', keys: setUp().keys, defaultTtlMs: MINUTE });
    await assert.rejects(issuer.verify(await other.mint({ subject: 'a', audience: 'gatehouse' }), { audience: 'gatehouse' }));
    const hs = await new SignJWT({})
      .setProtectedHeader({ alg: 'HS256' })
      .setIssuer('https://gate.example.com')
      .setAudience('gatehouse')
      .setExpirationTime('5m')
      .sign(new Uint8Array(32));
    await reject(hs, 'gatehouse', /algorithm/);
    await reject(`${base64url.encode('{}')}.e30.x`);
    await reject('not-a-jwt');
  });
});

describe('access tokens are at+jwt and cannot stand in for ID tokens or assertions (RFC 9068)', () => {
  const refused =
    (code = 'invalid_token') =>
    (err: { code: string; status: number }) => {
      assert.equal(err.code, code);
      assert.equal(err.status, 401);
      return true;
    };

  test('access tokens carry typ at+jwt, ID tokens and assertions typ JWT', async () => {
    const { issuer } = setUp();
    assert.equal(decodeProtectedHeader(await issuer.mint({ kind: 'access', subject: 'a', audience: 'gatehouse' })).typ, 'at+jwt');
    assert.equal(decodeProtectedHeader(await issuer.mint({ kind: 'id', subject: 'a', audience: 'gatehouse-cli' })).typ, 'JWT');
    assert.equal(decodeProtectedHeader(await issuer.mint({ kind: 'assertion', subject: 'a', audience: 'gatehouse-app:wiki' })).typ, 'JWT');
  });

  // Hostile: a token of another kind with the right audience.
  test('an ID token with the gateway audience is not an access token', async () => {
    const { issuer } = setUp();
    const id = await issuer.mint({ kind: 'id', subject: 'a', audience: 'gatehouse' });
    await assert.rejects(issuer.verify(id, { audience: 'gatehouse' }), refused());
  });

  test('an app assertion with a cluster audience is not an access token', async () => {
    const { issuer } = setUp();
    const assertion = await issuer.mint({ kind: 'assertion', subject: 'a', audience: 'gatehouse:prod' });
    await assert.rejects(issuer.verify(assertion, { audience: 'gatehouse:prod' }), refused());
  });

  test('an access token is not an ID token', async () => {
    const { issuer } = setUp();
    const access = await issuer.mint({ kind: 'access', subject: 'a', audience: 'gatehouse-cli' });
    await assert.rejects(issuer.verify(access, { audience: 'gatehouse-cli', kind: 'id' }), refused());
    const id = await issuer.mint({ kind: 'id', subject: 'a', audience: 'gatehouse-cli' });
    assert.equal((await issuer.verify(id, { audience: 'gatehouse-cli', kind: 'id' })).sub, 'a');
  });

  test('a revoked access token is refused with token_revoked; ID tokens are not checked', async () => {
    const { keys, options } = setUp();
    const revoked = new Set(['fam-1']);
    const issuer = createTokenIssuer({
      issuer: 'https://gate.example.com',
      keys,
      defaultTtlMs: 10 * MINUTE,
      clock: options.clock,
      isRevoked: async (c) => revoked.has(String(c.sid)),
    });
    await assert.rejects(
      issuer.verify(await issuer.mint({ subject: 'a', audience: 'gatehouse', claims: { sid: 'fam-1' } }), { audience: 'gatehouse' }),
      refused('token_revoked'),
    );
    assert.equal(
      (await issuer.verify(await issuer.mint({ subject: 'a', audience: 'gatehouse', claims: { sid: 'fam-2' } }), { audience: 'gatehouse' })).sid,
      'fam-2',
    );
  });
});
