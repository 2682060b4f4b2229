import { createRemoteJWKSet, type JWTVerifyGetKey } from 'jose';
import * as oidc from 'openid-client';
import type { OidcConnectorConfig } from '../config/schema.js';
import { isLoopbackHost } from '../core/hosts.js';
import { GatehouseError } from '../core/errors.js';
import type { ExternalIdentity } from '../core/types.js';
import type { Store } from '../store/store.js';
import { allowedAlgorithms, createLogoutTokenVerifier } from './backchannel-logout.js';
import { claimAt, toStringArray, type Connector } from './connector.js';
import { loginErrorFromOidc, refreshErrorFromOidc } from './oidc-errors.js';
import { applyPreset, type ProviderPreset } from './presets.js';

const METADATA_TTL_MS = 3_600_000;

/**
 * Authorization code + PKCE (S256) + state + nonce against any OpenID Provider.
 * ID tokens are verified in full (signature by the IdP's JWKS, iss, aud, exp, nonce).
 * The IdP's `sid` goes to the session (upstreamLogout) for back-channel logout; its refresh
 * token, when it gives one, lets `refresh` ask again later (refresh_token grant): the new ID
 * token is verified the same way (no nonce) and must name the same `sub`.
 * With `backchannel_logout` (the default) and a store (the jti replay cache), it validates the
 * IdP's back-channel logout tokens against the same issuer and JWKS.
 */
export function createOidcConnector(config: OidcConnectorConfig, options: { redirectUri: string; store?: Store }): Connector {
  const preset: ProviderPreset = applyPreset(config);
  let discovered: { at: number; config: Promise<oidc.Configuration> } | undefined;

  // Discovery is lazy and retried, so Gatehouse starts even when the IdP is down.
  const configuration = (): Promise<oidc.Configuration> => {
    if (!discovered || Date.now() - discovered.at > METADATA_TTL_MS) {
      const pending = discover(config).catch((err) => {
        discovered = undefined;
        throw new GatehouseError('idp_unavailable', `The identity provider "${config.id}" is not reachable right now.`, {
          status: 502,
          // Safe to show, and it tells the person what is wrong: the message names no internals.
          expose: true,
          cause: err,
        });
      });
      discovered = { at: Date.now(), config: pending };
    }
    return discovered.config;
  };

  // The JWKS for logout tokens, fetched and cached by jose (refetched on an unknown kid).
  let jwks: { uri: string; keys: JWTVerifyGetKey } | undefined;
  const verifyLogoutToken =
    config.backchannel_logout && options.store
      ? createLogoutTokenVerifier({
          connectorId: config.id,
          clientId: config.client_id,
          store: options.store,
          async idp() {
            const metadata = (await configuration()).serverMetadata();
            if (!metadata.jwks_uri) throw new GatehouseError('idp_unavailable', `The identity provider "${config.id}" publishes no JWKS.`, { status: 502 });
            if (jwks?.uri !== metadata.jwks_uri) jwks = { uri: metadata.jwks_uri, keys: createRemoteJWKSet(new URL(metadata.jwks_uri)) };
            return { issuer: metadata.issuer, keys: jwks.keys, algorithms: allowedAlgorithms(metadata.id_token_signing_alg_values_supported) };
          },
        })
      : undefined;

  return {
    id: config.id,
    name: config.name ?? config.id,
    type: 'oidc',
    ...(verifyLogoutToken ? { verifyLogoutToken } : {}),

    async startLogin({ state }) {
      const cfg = await configuration();
      const codeVerifier = oidc.randomPKCECodeVerifier();
      const nonce = oidc.randomNonce();
      const params: Record<string, string> = {
        ...config.auth_params,
        redirect_uri: options.redirectUri,
        scope: config.scopes.join(' '),
        code_challenge: await oidc.calculatePKCECodeChallenge(codeVerifier),
        code_challenge_method: 'S256',
        state,
        nonce,
      };
      if (config.hosted_domain) params.hd = config.hosted_domain;
      return { url: oidc.buildAuthorizationUrl(cfg, params).href, pending: { codeVerifier, nonce } };
    },

    async finishLogin({ callbackUrl, state, pending }) {
      const error = callbackUrl.searchParams.get('error');
      if (error) {
        throw new GatehouseError('idp_error', `The identity provider refused the login (${error}).`, { status: 401 });
      }
      const cfg = await configuration();
      let tokens: Awaited<ReturnType<typeof oidc.authorizationCodeGrant>>;
      try {
        tokens = await oidc.authorizationCodeGrant(cfg, callbackUrl, {
          pkceCodeVerifier: pending.codeVerifier,
          expectedNonce: pending.nonce,
          expectedState: state,
          idTokenExpected: true,
        });
      } catch (err) {
        throw loginErrorFromOidc(err);
      }
      let claims: Record<string, unknown> = { ...tokens.claims() };
      if (config.userinfo && tokens.access_token) {
        try {
          const info = await oidc.fetchUserInfo(cfg, tokens.access_token, String(claims.sub));
          claims = { ...info, ...claims };
        } catch (err) {
          throw loginErrorFromOidc(err);
        }
      }
      return {
        identity: toIdentity(config, preset, claims),
        upstreamIdToken: tokens.id_token,
        ...(typeof claims.sid === 'string' ? { upstreamLogout: { sid: claims.sid } } : {}),
        ...(tokens.refresh_token ? { upstreamRefreshToken: tokens.refresh_token } : {}),
      };
    },

    async refresh({ refreshToken, previous }) {
      const cfg = await configuration();
      let claims: Record<string, unknown> = {};
      let next = refreshToken;
      try {
        const tokens = await oidc.refreshTokenGrant(cfg, refreshToken);
        next = tokens.refresh_token ?? refreshToken;
        if (tokens.id_token) claims = { ...tokens.claims() };
        // An IdP that sends no new ID token on refresh (or config.userinfo) is asked at userinfo.
        if ((config.userinfo || !tokens.id_token) && tokens.access_token)
          claims = { ...(await oidc.fetchUserInfo(cfg, tokens.access_token, previous.subject)), ...claims };
      } catch (err) {
        throw refreshErrorFromOidc(err);
      }
      if (claims.sub !== previous.subject) {
        throw new GatehouseError('upstream_revoked', 'The identity provider answered the refresh for another person.', { status: 401 });
      }
      return { identity: toIdentity(config, preset, claims), refreshToken: next };
    },

    async logoutUrl({ upstreamIdToken, postLogoutRedirectUri }) {
      if (!config.rp_initiated_logout) return undefined;
      const cfg = await configuration().catch(() => undefined);
      if (!cfg?.serverMetadata().end_session_endpoint) return undefined;
      const params: Record<string, string> = { post_logout_redirect_uri: postLogoutRedirectUri, client_id: config.client_id };
      if (upstreamIdToken) params.id_token_hint = upstreamIdToken;
      return oidc.buildEndSessionUrl(cfg, params).href;
    },
  };

  function toIdentity(cfg: OidcConnectorConfig, p: ProviderPreset, claims: Record<string, unknown>): ExternalIdentity {
    const email = claimAt(claims, cfg.claims.email);
    const emailVerified = claims.email_verified === true || claims.email_verified === 'true';
    if (p.requireEmailVerified && !emailVerified) {
      throw new GatehouseError('email_not_verified', 'The identity provider has not verified this email address.', { status: 403 });
    }
    if (cfg.hosted_domain && claims.hd !== cfg.hosted_domain) {
      throw new GatehouseError('hosted_domain_mismatch', `Only accounts of ${cfg.hosted_domain} may sign in here.`, { status: 403 });
    }
    const groupsClaim = [cfg.claims.groups, ...p.fallbackGroupClaims].map((path) => claimAt(claims, path)).find((v) => v !== undefined);
    const username = claimAt(claims, cfg.claims.username) ?? email ?? claims.sub;
    return {
      connector: cfg.id,
      subject: String(claims.sub),
      username: String(username),
      email: typeof email === 'string' ? email : undefined,
      emailVerified,
      groups: toStringArray(groupsClaim),
      claims,
    };
  }
}

async function discover(config: OidcConnectorConfig): Promise<oidc.Configuration> {
  const issuer = new URL(config.issuer);
  const auth = config.client_secret ? oidc.ClientSecretBasic(config.client_secret) : oidc.None();
  const cfg = await oidc.discovery(issuer, config.client_id, undefined, auth, {
    // Plain http only for loopback IdPs (tests, the demo); the config rejects it elsewhere.
    execute: issuer.protocol === 'http:' && isLoopbackHost(issuer.hostname) ? [oidc.allowInsecureRequests] : [],
    timeout: 10,
  });
  // Verify ID token signatures against the IdP's JWKS, not just trust the TLS channel.
  oidc.enableNonRepudiationChecks(cfg);
  return cfg;
}
