// The logout token validator (OIDC Back-Channel Logout 1.0 §2.6), with jose keys generated here:
// each check refuses with its code and `details.check`, and a valid token passes once.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, test } from 'node:test';
import { base64url, createLocalJWKSet, exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWTPayload } from 'jose';
import { allowedAlgorithms, BACKCHANNEL_LOGOUT_EVENT, createLogoutTokenVerifier, MAX_AGE_S } from '../../../src/connectors/backchannel-logout.js';
import { isGatehouseError } from '../../../src/core/errors.js';
import { createMemoryStore } from '../../../src/store/memory.js';

const ISSUER = 'https://idp.example/realms/corp';
const CLIENT = 'gatehouse';
const NOW = Date.parse('2026-11-26T12:00:00Z');
const nowS = Math.floor(NOW / 1000);

async function setUp(options: { algorithms?: string[] } = {}) {
  const { privateKey, publicKey } = await generateKeyPair('RS256');
  const other = await generateKeyPair('RS256');
  const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' };
  const clock = { now: () => NOW };
  const verify = createLogoutTokenVerifier({
    connectorId: 'corp',
    clientId: CLIENT,
    store: createMemoryStore({ clock }),
    clock,
    idp: async () => ({ issuer: ISSUER, keys: createLocalJWKSet({ keys: [jwk] }), algorithms: options.algorithms ?? ['RS256'] }),
  });
  const claims = (extra: JWTPayload = {}): JWTPayload => ({
    iss: ISSUER,
    aud: CLIENT,
    iat: nowS,
    exp: nowS + 120,
    jti: randomUUID(),
    sub: 'user-1',
    sid: 'session-1',
    events: { [BACKCHANNEL_LOGOUT_EVENT]: {} },
    ...extra,
  });
  const sign = (payload: JWTPayload, key: CryptoKey = privateKey, kid = 'k1') =>
    new SignJWT(payload).setProtectedHeader({ alg: 'RS256', kid, typ: 'logout+jwt' }).sign(key);
  return { verify, claims, sign, otherKey: other.privateKey };
}

async function refused(promise: Promise<unknown>, code: string, check: string) {
  await assert.rejects(promise, (err) => {
    assert.ok(isGatehouseError(err), String(err));
    assert.equal(err.code, code);
    assert.equal(err.status, 400);
    assert.equal(err.details?.check, check);
    return true;
  });
}

describe('back-channel logout token validation', () => {
  test('a valid token passes once; its jti is refused after that', async () => {
    const { verify, claims, sign } = await setUp();
    const token = await sign(claims({ jti: 'j-1' }));
    assert.deepEqual(await verify(token), { sub: 'user-1', sid: 'session-1', jti: 'j-1', iat: nowS, exp: nowS + 120 });
    await refused(verify(token), 'logout_token_replayed', 'jti');
  });

  test('sub only, or sid only, is enough; neither is refused', async () => {
    const { verify, claims, sign } = await setUp();
    assert.equal((await verify(await sign(claims({ sid: undefined })))).sub, 'user-1');
    assert.equal((await verify(await sign(claims({ sub: undefined })))).sid, 'session-1');
    await refused(verify(await sign(claims({ sub: undefined, sid: undefined }))), 'logout_token_invalid', 'sub_sid');
  });

  test('signature: a key not in the JWKS, alg none, an HS256 token, a tampered payload', async () => {
    const { verify, claims, sign, otherKey } = await setUp();
    await refused(verify(await sign(claims(), otherKey)), 'logout_token_signature', 'signature');
    await refused(verify(await sign(claims(), otherKey, 'unknown-kid')), 'logout_token_signature', 'signature');
    const payload = base64url.encode(JSON.stringify(claims()));
    await refused(verify(`${base64url.encode('{"alg":"none"}')}.${payload}.`), 'logout_token_signature', 'alg');
    const hs = await new SignJWT(claims()).setProtectedHeader({ alg: 'HS256' }).sign(crypto.getRandomValues(new Uint8Array(32)));
    await refused(verify(hs), 'logout_token_signature', 'alg');
    const [header, , signature] = (await sign(claims())).split('.');
    await refused(verify(`${header}.${base64url.encode(JSON.stringify(claims({ sub: 'someone-else' })))}.${signature}`), 'logout_token_signature', 'signature');
  });

  test('claims: iss, aud, iat, exp, events, nonce, jti', async () => {
    const { verify, claims, sign } = await setUp();
    const cases: [JWTPayload, string][] = [
      [{ iss: 'https://evil.example' }, 'iss'],
      [{ aud: 'another-client' }, 'aud'],
      [{ aud: ['another-client', 'third'] }, 'aud'],
      [{ iat: undefined }, 'iat'],
      [{ iat: nowS + 3600, exp: nowS + 7200 }, 'iat'],
      [{ exp: nowS - 3600, iat: nowS - 7200 }, 'exp'],
      [{ exp: undefined, iat: nowS - MAX_AGE_S - 3600 }, 'iat'],
      [{ events: undefined }, 'events'],
      [{ events: { [BACKCHANNEL_LOGOUT_EVENT]: 'yes' } }, 'events'],
      [{ events: { 'http://schemas.openid.net/event/other': {} } }, 'events'],
      [{ nonce: 'n-1' }, 'nonce'],
      [{ jti: undefined }, 'jti'],
      [{ jti: '' }, 'jti'],
    ];
    for (const [extra, check] of cases) await refused(verify(await sign(claims(extra))), 'logout_token_invalid', check);
    assert.ok(await verify(await sign(claims({ aud: ['other', CLIENT] }))), 'an audience list containing ours');
    assert.ok(await verify(await sign(claims({ exp: undefined }))), 'no exp, but a fresh iat');
  });

  test('a refused token burns no jti', async () => {
    const { verify, claims, sign } = await setUp();
    await refused(verify(await sign(claims({ jti: 'j-2', nonce: 'x' }))), 'logout_token_invalid', 'nonce');
    assert.ok(await verify(await sign(claims({ jti: 'j-2' }))));
  });

  test('missing, oversized and non-JWT tokens', async () => {
    const { verify } = await setUp();
    await refused(verify(undefined), 'logout_token_invalid', 'logout_token');
    await refused(verify(['a', 'b']), 'logout_token_invalid', 'logout_token');
    await refused(verify('x'.repeat(20_000)), 'logout_token_invalid', 'logout_token');
    await refused(verify('not-a-jwt'), 'logout_token_invalid', 'malformed');
  });

  test('algorithms: the IdP’s ID-token list, asymmetric only', () => {
    assert.deepEqual(allowedAlgorithms(undefined), ['RS256']);
    assert.deepEqual(allowedAlgorithms(['HS256', 'none', 'RS256', 'ES256']), ['RS256', 'ES256']);
    assert.deepEqual(allowedAlgorithms(['HS512']), ['RS256']);
  });
});
