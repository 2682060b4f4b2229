/**
 * A small, deliberately misbehaving OpenID Provider for login-failure tests.
 *
 * It is correct in everything except the one thing the current `mode` breaks, so each test
 * isolates one ID token check in the relying party:
 *   - discovery, a JWKS with one RS256 key generated at start, no login page: the authorization
 *     endpoint redirects straight back with a code and the caller's state;
 *   - the token endpoint authenticates the client (basic or post), takes the code once, checks
 *     redirect_uri and the PKCE S256 verifier (`invalid_grant` otherwise), then returns an ID token
 *     built according to `mode`.
 * Set `idp.mode` between tests; it is read when the token endpoint answers.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWTPayload } from 'jose';

export const ROGUE_MODES = [
  /** A correct ID token: the sanity check that everything else about this IdP is right. */
  'ok',
  /** `nonce` is not the one sent in the authorization request. */
  'nonce_mismatch',
  /** Signed by a key that is not in the JWKS, under the published key's `kid`. */
  'unknown_key_same_kid',
  /** Signed by a key that is not in the JWKS, under a `kid` the JWKS does not have. */
  'unknown_key_other_kid',
  /** `exp` five minutes in the past. */
  'expired',
  /** Header `{"alg":"none"}` and an empty signature. */
  'alg_none',
  /** `aud` names another client. */
  'wrong_audience',
  /** `hd` (Google hosted domain) is `other.example`. */
  'hd_mismatch',
  /** `email_verified: false`. */
  'email_unverified',
  /** The token endpoint refuses the code with `invalid_grant`. */
  'code_rejected',
] as const;
export type RogueMode = (typeof ROGUE_MODES)[number];

export interface RogueIdpOptions {
  clientId: string;
  clientSecret: string;
  /** Listen on this port (default: a free one), e.g. to appear where an IdP was expected. */
  port?: number;
}

export interface RogueIdp {
  /** Also the issuer: `http://127.0.0.1:<port>`. */
  url: string;
  mode: RogueMode;
  /** The person every ID token is about (before `mode` breaks something). */
  readonly user: { sub: string; preferred_username: string; email: string; groups: string[]; hd: string };
  /** How many requests reached the token endpoint (a replayed callback must not add one). */
  readonly tokenRequests: number;
  close(): Promise<void>;
}

interface IssuedCode {
  clientId: string;
  redirectUri: string;
  nonce?: string;
  codeChallenge: string;
}

const b64url = (data: string | Buffer) => Buffer.from(data).toString('base64url');

export async function startRogueIdp(options: RogueIdpOptions): Promise<RogueIdp> {
  const { publicKey, privateKey } = await generateKeyPair('RS256', { extractable: true });
  const kid = `rogue-${randomBytes(6).toString('hex')}`;
  const jwk = { ...(await exportJWK(publicKey)), kid, alg: 'RS256', use: 'sig' };
  // The impostor key: never published.
  const { privateKey: strayKey } = await generateKeyPair('RS256');
  const codes = new Map<string, IssuedCode>();
  const user = { sub: 'rogue-user-1', preferred_username: 'eve', email: 'eve@example.com', groups: ['devs'], hd: 'example.com' };
  let issuer = '';
  let tokenRequests = 0;

  const state: { mode: RogueMode } = { mode: 'ok' };

  const json = (res: ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
    res.end(JSON.stringify(body));
  };
  const oauthError = (res: ServerResponse, status: number, error: string, description: string) => json(res, status, { error, error_description: description });

  const sign = (payload: JWTPayload, key: CryptoKey, keyId: string) =>
    new SignJWT(payload).setProtectedHeader({ alg: 'RS256', kid: keyId, typ: 'JWT' }).sign(key);

  async function idToken(issued: IssuedCode): Promise<string> {
    const now = Math.floor(Date.now() / 1000);
    const claims: JWTPayload & Record<string, unknown> = {
      iss: issuer,
      sub: user.sub,
      aud: issued.clientId,
      iat: now,
      exp: now + 300,
      nonce: issued.nonce,
      preferred_username: user.preferred_username,
      email: user.email,
      email_verified: true,
      groups: user.groups,
      hd: user.hd,
    };
    switch (state.mode) {
      case 'nonce_mismatch':
        claims.nonce = b64url(randomBytes(16));
        break;
      case 'expired':
        claims.iat = now - 900;
        claims.exp = now - 300;
        break;
      case 'wrong_audience':
        claims.aud = 'some-other-client';
        break;
      case 'hd_mismatch':
        claims.hd = 'other.example';
        break;
      case 'email_unverified':
        claims.email_verified = false;
        break;
      case 'alg_none':
        return `${b64url(JSON.stringify({ alg: 'none' }))}.${b64url(JSON.stringify(claims))}.`;
      case 'unknown_key_same_kid':
        return sign(claims, strayKey, kid);
      case 'unknown_key_other_kid':
        return sign(claims, strayKey, `${kid}-other`);
    }
    return sign(claims, privateKey, kid);
  }

  function authorize(url: URL, res: ServerResponse) {
    const p = url.searchParams;
    const clientId = p.get('client_id');
    const redirectUri = p.get('redirect_uri');
    // Without a trustworthy client and redirect_uri, answer here instead of redirecting.
    if (clientId !== options.clientId || !redirectUri) return oauthError(res, 400, 'invalid_request', 'unknown client or no redirect_uri');
    const back = new URL(redirectUri);
    const stateParam = p.get('state');
    if (stateParam !== null) back.searchParams.set('state', stateParam);
    const challenge = p.get('code_challenge');
    if (p.get('response_type') !== 'code' || !challenge || p.get('code_challenge_method') !== 'S256') {
      back.searchParams.set('error', 'invalid_request');
      back.searchParams.set('error_description', 'response_type=code with PKCE S256 is required');
    } else {
      const code = b64url(randomBytes(24));
      codes.set(code, { clientId, redirectUri, nonce: p.get('nonce') ?? undefined, codeChallenge: challenge });
      back.searchParams.set('code', code);
    }
    res.writeHead(302, { location: back.href });
    res.end();
  }

  function clientOf(req: IncomingMessage, form: URLSearchParams): { id: string; secret: string } | undefined {
    const basic = /^Basic (.+)$/i.exec(req.headers.authorization ?? '')?.[1];
    if (basic) {
      const decoded = Buffer.from(basic, 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      if (colon < 0) return undefined;
      // RFC 6749 §2.3.1: both parts are form-urlencoded before base64.
      const unform = (s: string) => decodeURIComponent(s.replace(/\+/g, ' '));
      return { id: unform(decoded.slice(0, colon)), secret: unform(decoded.slice(colon + 1)) };
    }
    const id = form.get('client_id');
    const secret = form.get('client_secret');
    return id && secret ? { id, secret } : undefined;
  }

  const sameSecret = (a: string, b: string) => {
    const [x, y] = [createHash('sha256').update(a).digest(), createHash('sha256').update(b).digest()];
    return timingSafeEqual(x, y);
  };

  async function token(req: IncomingMessage, res: ServerResponse) {
    tokenRequests++;
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const form = new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
    const client = clientOf(req, form);
    if (!client || client.id !== options.clientId || !sameSecret(client.secret, options.clientSecret)) {
      return oauthError(res, 401, 'invalid_client', 'client authentication failed');
    }
    if (form.get('grant_type') !== 'authorization_code') return oauthError(res, 400, 'unsupported_grant_type', 'authorization_code only');
    const code = form.get('code') ?? '';
    const issued = codes.get(code);
    codes.delete(code); // take-once, whatever happens next
    if (!issued || issued.clientId !== client.id) return oauthError(res, 400, 'invalid_grant', 'unknown or used code');
    if (form.get('redirect_uri') !== issued.redirectUri) return oauthError(res, 400, 'invalid_grant', 'redirect_uri does not match');
    const verifier = form.get('code_verifier') ?? '';
    if (b64url(createHash('sha256').update(verifier).digest()) !== issued.codeChallenge) {
      return oauthError(res, 400, 'invalid_grant', 'PKCE verification failed');
    }
    if (state.mode === 'code_rejected') return oauthError(res, 400, 'invalid_grant', 'the code was rejected (rogue mode)');
    json(res, 200, {
      access_token: b64url(randomBytes(24)),
      token_type: 'Bearer',
      expires_in: 300,
      id_token: await idToken(issued),
    });
  }

  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', issuer);
    const route = `${req.method} ${url.pathname}`;
    const handle = async () => {
      switch (route) {
        case 'GET /.well-known/openid-configuration':
          return json(res, 200, {
            issuer,
            authorization_endpoint: `${issuer}/authorize`,
            token_endpoint: `${issuer}/token`,
            jwks_uri: `${issuer}/jwks`,
            response_types_supported: ['code'],
            subject_types_supported: ['public'],
            id_token_signing_alg_values_supported: ['RS256', 'ES256'],
            code_challenge_methods_supported: ['S256'],
            grant_types_supported: ['authorization_code'],
            token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post'],
            scopes_supported: ['openid', 'email', 'profile', 'groups'],
          });
        case 'GET /jwks':
          return json(res, 200, { keys: [jwk] });
        case 'GET /authorize':
          return authorize(url, res);
        case 'POST /token':
          return token(req, res);
        default:
          return json(res, 404, { error: 'not_found' });
      }
    };
    handle().catch((err: Error) => {
      if (!res.headersSent) json(res, 500, { error: 'server_error', error_description: err.message });
      else res.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    url: issuer,
    get mode() {
      return state.mode;
    },
    set mode(mode: RogueMode) {
      state.mode = mode;
    },
    user,
    get tokenRequests() {
      return tokenRequests;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
