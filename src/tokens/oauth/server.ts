import { randomInt } from 'node:crypto';
import { toClaims, type TokenGrant } from '../gateway-token.js';
import { systemClock, type Clock } from '../../core/clock.js';
import { randomId, sha256Hex } from '../../core/ids.js';
import type { ExternalIdentity } from '../../core/types.js';
import { getJson, setJson, takeJson, type Store } from '../../store/store.js';
import type { TokenIssuer } from '../issuer.js';
import type { TokenRevocations } from '../revocations.js';
import { OAuthError } from './errors.js';
import { isLoopbackRedirect } from './loopback.js';
import { isValidChallenge, verifyPkce } from './pkce.js';

/** What policy says about an identity for one audience (the gateway API or a cluster). */
export interface Entitlement {
  allowed: boolean;
  /** Why not, when not allowed (audited). */
  reason?: string;
  /** What tokens of this audience state was granted, when allowed. */
  grant?: TokenGrant;
  /** The roles' max_session_ttl, bounding how long a CLI login may be refreshed. */
  maxTtlMs?: number;
}

export type Entitle = (identity: ExternalIdentity, audience: string) => Entitlement;

export interface TokenResponse {
  access_token: string;
  token_type: 'Bearer';
  expires_in: number;
  id_token: string;
  refresh_token: string;
  scope: string;
  /** Who the tokens are for, for the audit log (not sent to the client). */
  audit: { user: string; connector: string; audience: string; family: string };
}

interface Family {
  id: string;
  identity: ExternalIdentity;
  clientId: string;
  scope: string;
  createdAt: number;
  expiresAt: number;
  revoked?: boolean;
}

interface AuthorizationCode {
  clientId: string;
  redirectUri: string;
  challenge: string;
  scope: string;
  nonce?: string;
  identity: ExternalIdentity;
}

interface DeviceGrant {
  clientId: string;
  scope: string;
  userCode: string;
  status: 'pending' | 'approved' | 'denied';
  identity?: ExternalIdentity;
  expiresAt: number;
}

export interface OAuthServerOptions {
  store: Store;
  issuer: TokenIssuer;
  /** The API audience of the gateway itself. */
  gatewayAudience: string;
  clientId: string;
  /** Audiences a token request may name with `resource` (the clusters). */
  resources: () => string[];
  entitle: Entitle;
  /** Where revoked families are recorded, so their live access tokens are refused too. */
  revocations: TokenRevocations;
  tokenTtlMs: number;
  refreshTtlMs: number;
  verificationUri: string;
  clock?: Clock;
}

const CODE_TTL_S = 60;
const DEVICE_TTL_S = 600;
const DEVICE_INTERVAL_S = 5;
/** RFC 8628 §6.1: no vowels or look-alikes, so codes spell no words and survive reading aloud. */
const USER_CODE_ALPHABET = 'BCDFGHJKLMNPQRSTVWXZ';
/** Our own prefix, so secret scanners never take our refresh tokens for GitHub's (`ghr_`). */
export const REFRESH_TOKEN_PREFIX = 'gatehouse_rt_';

const k = {
  code: (code: string) => `oauth:code:${sha256Hex(code)}`,
  family: (id: string) => `oauth:family:${id}`,
  refresh: (token: string) => `oauth:rt:${sha256Hex(token)}`,
  spent: (token: string) => `oauth:rt-spent:${sha256Hex(token)}`,
  device: (deviceCode: string) => `oauth:device:${sha256Hex(deviceCode)}`,
  devicePoll: (deviceCode: string) => `oauth:device-poll:${sha256Hex(deviceCode)}`,
  userCode: (userCode: string) => `oauth:user-code:${userCode}`,
};

/**
 * The authorization server for the `gatehouse` CLI: authorization code + PKCE (S256) on a
 * loopback redirect, the device authorization grant, rotating refresh tokens with reuse
 * detection, and revocation. Tokens for a cluster (`resource` = its audience) carry that
 * audience and the mapped Kubernetes groups, recomputed from current policy at every refresh.
 */
export function createOAuthServer(options: OAuthServerOptions) {
  const clock = options.clock ?? systemClock;
  const { store } = options;
  const ttlSeconds = (until: number) => Math.max(1, Math.ceil((until - clock.now()) / 1000));

  const checkClient = (clientId: unknown) => {
    if (clientId !== options.clientId) throw new OAuthError('invalid_client', 'Unknown client_id.');
  };

  const audienceOf = (resource: unknown): string => {
    if (resource === undefined || resource === '') return options.gatewayAudience;
    if (typeof resource !== 'string' || !options.resources().includes(resource)) {
      throw new OAuthError('invalid_target', 'resource names no cluster this gateway issues tokens for.');
    }
    return resource;
  };

  /** Mints the token set for a family, for one audience, if policy still allows it. */
  const issue = async (family: Family, audience: string, refreshToken: string, nonce?: string): Promise<TokenResponse> => {
    const entitlement = options.entitle(family.identity, audience);
    if (!entitlement.allowed || !entitlement.grant) {
      throw new OAuthError('invalid_grant', `Policy no longer grants ${audience} to ${family.identity.username}.`, entitlement.reason ?? 'access_revoked', family.identity.username);
    }
    const person = toClaims(family.identity, entitlement.grant);
    const subject = person.subject;
    // `sid` names the CLI login (family), so revoking it refuses its live access tokens too.
    const claims = { ...person.claims, sid: family.id };
    const ttlMs = Math.min(options.tokenTtlMs, family.expiresAt - clock.now());
    // The ID token is for the CLI whatever the audience: only access tokens carry a gateway or cluster aud.
    const idAudience = [options.clientId];
    const [accessToken, idToken] = await Promise.all([
      options.issuer.mint({ kind: 'access', subject, audience, claims, ttlMs }),
      options.issuer.mint({ kind: 'id', subject, audience: idAudience, claims: { ...claims, azp: options.clientId, ...(nonce ? { nonce } : {}) }, ttlMs }),
    ]);
    return {
      access_token: accessToken,
      token_type: 'Bearer',
      expires_in: Math.floor(ttlMs / 1000),
      id_token: idToken,
      refresh_token: refreshToken,
      scope: family.scope,
      audit: { user: family.identity.username, connector: family.identity.connector, audience, family: family.id },
    };
  };

  /** Starts a refresh-token family for a person who just authorised the CLI. */
  const startFamily = async (identity: ExternalIdentity, clientId: string, scope: string): Promise<{ family: Family; refreshToken: string }> => {
    const api = options.entitle(identity, options.gatewayAudience);
    if (!api.allowed) throw new OAuthError('access_denied', `${identity.username} has no role on this gateway.`, api.reason ?? 'no_roles', identity.username);
    const now = clock.now();
    const lifetime = Math.min(options.refreshTtlMs, api.maxTtlMs ?? Infinity);
    const family: Family = { id: randomId(16), identity, clientId, scope, createdAt: now, expiresAt: now + lifetime };
    await setJson(store, k.family(family.id), family, ttlSeconds(family.expiresAt));
    return { family, refreshToken: await newRefreshToken(family) };
  };

  const newRefreshToken = async (family: Family): Promise<string> => {
    const token = `${REFRESH_TOKEN_PREFIX}${randomId(32)}`;
    await store.set(k.refresh(token), family.id, ttlSeconds(family.expiresAt));
    return token;
  };

  const revokeFamily = async (id: string) => {
    const family = await getJson<Family>(store, k.family(id));
    if (family) await setJson(store, k.family(id), { ...family, revoked: true }, ttlSeconds(family.expiresAt));
    await options.revocations.revokeFamily(id);
    return family;
  };

  return {
    /**
     * Validates an authorization request. Errors about the client or redirect URI are
     * returned to the browser, never redirected (RFC 6749 §4.1.2.1).
     */
    checkAuthorizationRequest(query: Record<string, unknown>): { redirectUri: string; state?: string; challenge: string; scope: string; nonce?: string } {
      checkClient(query.client_id);
      const redirectUri = query.redirect_uri;
      if (typeof redirectUri !== 'string' || !isLoopbackRedirect(redirectUri)) {
        throw new OAuthError('invalid_request', 'redirect_uri must be http://127.0.0.1:<port>/… or http://[::1]:<port>/… (RFC 8252).', 'redirect_uri_not_loopback');
      }
      if (query.response_type !== 'code') throw new OAuthError('unsupported_response_type', 'Only response_type=code is supported.');
      if (query.code_challenge_method !== 'S256' || !isValidChallenge(query.code_challenge)) {
        throw new OAuthError('invalid_request', 'PKCE is required: code_challenge with code_challenge_method=S256.', 'pkce_missing');
      }
      return {
        redirectUri,
        state: typeof query.state === 'string' ? query.state : undefined,
        challenge: query.code_challenge as string,
        scope: typeof query.scope === 'string' ? query.scope : 'openid',
        nonce: typeof query.nonce === 'string' ? query.nonce : undefined,
      };
    },

    /** Issues a one-time code for a signed-in person (60 s, bound to the PKCE challenge and redirect URI). */
    async issueCode(request: { redirectUri: string; challenge: string; scope: string; nonce?: string }, identity: ExternalIdentity): Promise<string> {
      const code = randomId(32);
      const record: AuthorizationCode = { clientId: options.clientId, ...request, identity };
      await setJson(store, k.code(code), record, CODE_TTL_S);
      return code;
    },

    async exchangeCode(form: Record<string, unknown>): Promise<TokenResponse> {
      checkClient(form.client_id);
      const code = await (typeof form.code === 'string' ? store.take(k.code(form.code)) : null);
      if (!code) throw new OAuthError('invalid_grant', 'The authorization code is unknown, expired or already used.', 'code_invalid');
      const grant = JSON.parse(code) as AuthorizationCode;
      if (form.redirect_uri !== grant.redirectUri) throw new OAuthError('invalid_grant', 'redirect_uri does not match the authorization request.', 'redirect_uri_mismatch', grant.identity.username);
      if (!verifyPkce(form.code_verifier, grant.challenge)) throw new OAuthError('invalid_grant', 'code_verifier does not match the code_challenge.', 'pkce_mismatch', grant.identity.username);
      const { family, refreshToken } = await startFamily(grant.identity, grant.clientId, grant.scope);
      return issue(family, audienceOf(form.resource), refreshToken, grant.nonce);
    },

    /** Rotates the refresh token. A spent token coming back revokes its whole family. */
    async refresh(form: Record<string, unknown>): Promise<TokenResponse> {
      checkClient(form.client_id);
      const token = form.refresh_token;
      if (typeof token !== 'string' || !token.startsWith(REFRESH_TOKEN_PREFIX)) throw new OAuthError('invalid_grant', 'refresh_token is missing or malformed.', 'refresh_token_invalid');
      const familyId = await store.take(k.refresh(token));
      if (!familyId) {
        const reusedFamily = await store.get(k.spent(token));
        if (reusedFamily) {
          const family = await revokeFamily(reusedFamily);
          throw new OAuthError('invalid_grant', 'This refresh token was already used; every token of this login is now revoked.', 'refresh_token_reused', family?.identity.username);
        }
        throw new OAuthError('invalid_grant', 'The refresh token is unknown, expired or revoked.', 'refresh_token_invalid');
      }
      const family = await getJson<Family>(store, k.family(familyId));
      if (!family || family.revoked || family.expiresAt <= clock.now()) {
        throw new OAuthError('invalid_grant', 'This login was revoked or has expired: sign in again.', 'family_revoked', family?.identity.username);
      }
      await store.set(k.spent(token), family.id, ttlSeconds(family.expiresAt));
      return issue(family, audienceOf(form.resource), await newRefreshToken(family));
    },

    /** RFC 7009: revoking a refresh token ends its whole family; unknown tokens are not an error. */
    async revoke(form: Record<string, unknown>): Promise<{ user?: string; revoked: boolean }> {
      checkClient(form.client_id);
      const token = form.token;
      if (typeof token !== 'string') throw new OAuthError('invalid_request', 'token is required.');
      const familyId = (await store.get(k.refresh(token))) ?? (await store.get(k.spent(token)));
      if (!familyId) return { revoked: false };
      await store.delete(k.refresh(token));
      const family = await revokeFamily(familyId);
      return { user: family?.identity.username, revoked: true };
    },

    /** RFC 8628 §3.1–3.2. */
    async startDeviceAuthorization(form: Record<string, unknown>) {
      checkClient(form.client_id);
      const deviceCode = randomId(32);
      const userCode = Array.from({ length: 8 }, () => USER_CODE_ALPHABET[randomInt(USER_CODE_ALPHABET.length)]).join('');
      const grant: DeviceGrant = {
        clientId: options.clientId,
        scope: typeof form.scope === 'string' ? form.scope : 'openid',
        userCode,
        status: 'pending',
        expiresAt: clock.now() + DEVICE_TTL_S * 1000,
      };
      await setJson(store, k.device(deviceCode), grant, DEVICE_TTL_S);
      await store.set(k.userCode(userCode), deviceCode, DEVICE_TTL_S);
      const display = `${userCode.slice(0, 4)}-${userCode.slice(4)}`;
      return {
        device_code: deviceCode,
        user_code: display,
        verification_uri: options.verificationUri,
        verification_uri_complete: `${options.verificationUri}?user_code=${display}`,
        expires_in: DEVICE_TTL_S,
        interval: DEVICE_INTERVAL_S,
      };
    },

    /** Normalises what a person typed (case, dashes, spaces) and finds the pending grant. */
    async findUserCode(typed: string): Promise<{ userCode: string } | null> {
      const userCode = typed.toUpperCase().replace(/[^A-Z]/g, '');
      if (userCode.length !== 8) return null;
      const deviceCode = await store.get(k.userCode(userCode));
      const grant = deviceCode ? await getJson<DeviceGrant>(store, k.device(deviceCode)) : null;
      return grant?.status === 'pending' ? { userCode } : null;
    },

    /** The signed-in person approves or denies the device; the code can be decided once. */
    async decideDevice(typed: string, identity: ExternalIdentity, approve: boolean): Promise<boolean> {
      const userCode = typed.toUpperCase().replace(/[^A-Z]/g, '');
      const deviceCode = await store.take(k.userCode(userCode));
      const grant = deviceCode ? await getJson<DeviceGrant>(store, k.device(deviceCode)) : null;
      if (!deviceCode || !grant || grant.status !== 'pending') return false;
      const decided: DeviceGrant = { ...grant, status: approve ? 'approved' : 'denied', identity: approve ? identity : undefined };
      await setJson(store, k.device(deviceCode), decided, ttlSeconds(grant.expiresAt));
      return true;
    },

    /** RFC 8628 §3.4–3.5: authorization_pending, slow_down, access_denied, expired_token. */
    async pollDevice(form: Record<string, unknown>): Promise<TokenResponse> {
      checkClient(form.client_id);
      const deviceCode = typeof form.device_code === 'string' ? form.device_code : '';
      const grant = await getJson<DeviceGrant>(store, k.device(deviceCode));
      if (!grant) throw new OAuthError('expired_token', 'The device code is unknown or has expired: start again.');
      if (grant.status === 'pending') {
        // The poll clock is a key of its own: rewriting the grant here could undo an approval made meanwhile.
        const onTime = await store.setIfAbsent(k.devicePoll(deviceCode), '1', DEVICE_INTERVAL_S);
        if (!onTime) throw new OAuthError('slow_down', `Poll at most every ${DEVICE_INTERVAL_S} seconds.`);
        throw new OAuthError('authorization_pending', 'The person has not approved this device yet.');
      }
      // Decided: take it once, so concurrent polls cannot start two logins.
      const decided = await takeJson<DeviceGrant>(store, k.device(deviceCode));
      if (!decided || decided.status === 'pending') throw new OAuthError('invalid_grant', 'The device code was already used.', 'device_code_used');
      if (decided.status === 'denied' || !decided.identity) throw new OAuthError('access_denied', 'The person denied this device.');
      const { family, refreshToken } = await startFamily(decided.identity, decided.clientId, decided.scope);
      return issue(family, audienceOf(form.resource), refreshToken);
    },
  };
}

export type OAuthServer = ReturnType<typeof createOAuthServer>;
