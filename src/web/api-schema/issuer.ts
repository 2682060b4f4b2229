/** The OIDC issuer's JSON endpoints (discovery, JWKS) and the CLI's OAuth token and device endpoints. */
import { z } from 'zod';
import type { DeviceAuthorization } from '../../tokens/oauth/grants/device-code.js';
import type { TokenResponse } from '../../tokens/oauth/server.js';
import { oauthErrorBody } from './errors.js';
import { json, type ApiOperation, type ApiResponse } from './operation.js';
import { schemaOf, type Flat } from './typed.js';

const strings = z.array(z.string());

const discovery = z
  .object({
    issuer: z.url(),
    jwks_uri: z.url(),
    authorization_endpoint: z.url(),
    token_endpoint: z.url(),
    device_authorization_endpoint: z.url(),
    revocation_endpoint: z.url(),
    response_types_supported: strings,
    subject_types_supported: strings,
    id_token_signing_alg_values_supported: strings,
    claims_supported: strings,
    grant_types_supported: strings,
    code_challenge_methods_supported: strings,
    token_endpoint_auth_methods_supported: strings,
    scopes_supported: strings,
    authorization_response_iss_parameter_supported: z.boolean(),
  })
  .meta({ description: 'OpenID Provider metadata (OpenID Connect Discovery 1.0, RFC 8414): the contract for every other OAuth endpoint.' });

const jwks = z
  .object({
    keys: z.array(
      z.object({
        kty: z.enum(['EC', 'RSA']),
        crv: z.string().optional(),
        x: z.string().optional(),
        y: z.string().optional(),
        n: z.string().optional(),
        e: z.string().optional(),
        kid: z.string().describe('The RFC 7638 thumbprint.'),
        alg: z.enum(['ES256', 'RS256']),
        use: z.literal('sig'),
      }),
    ),
  })
  .meta({ description: 'The public signing keys (RFC 7517): the current one, and retired ones until their tokens expire.' });

const tokenSet = schemaOf<Flat<Omit<TokenResponse, 'audit'>>>()(
  z
    .object({
      access_token: z.string().describe('A gateway token (JWT, `typ: at+jwt`), or for `resource` a cluster’s token.'),
      token_type: z.literal('Bearer'),
      expires_in: z.number().int(),
      id_token: z.string(),
      refresh_token: z.string().describe('Rotates on every use; reusing an old one revokes the whole login.'),
      scope: z.string(),
    })
    .meta({ description: 'A token response (RFC 6749 §5.1).' }),
);

const deviceAuthorization = schemaOf<DeviceAuthorization>()(
  z
    .object({
      device_code: z.string(),
      user_code: z.string(),
      verification_uri: z.url(),
      verification_uri_complete: z.url(),
      expires_in: z.number().int(),
      interval: z.number().int(),
    })
    .meta({ description: 'A device authorization response (RFC 8628 §3.2).' }),
);

const tokenRequest = z.object({
  grant_type: z.enum(['authorization_code', 'refresh_token', 'urn:ietf:params:oauth:grant-type:device_code']),
  client_id: z.string().describe('The CLI’s public client (`cli.client_id`, default gatehouse-cli).'),
  code: z.string().optional().describe('authorization_code'),
  code_verifier: z.string().optional().describe('authorization_code (PKCE, S256)'),
  redirect_uri: z.string().optional().describe('authorization_code: a loopback redirect (RFC 8252)'),
  refresh_token: z.string().optional().describe('refresh_token'),
  device_code: z.string().optional().describe('the device grant'),
  resource: z.string().optional().describe('A cluster’s audience (RFC 8707): the access token is for that cluster.'),
});

const oauthErrors = (meanings: Record<number, string>): Record<number, ApiResponse> =>
  Object.fromEntries(Object.entries(meanings).map(([status, description]) => [status, json(description, 'OAuthError', oauthErrorBody)]));

const OAUTH_ERRORS = {
  400: 'RFC 6749 §5.2 and RFC 8628 §3.5 errors: `invalid_request`, `invalid_grant`, `unsupported_grant_type`, `authorization_pending`, `expired_token`, `access_denied`, ...',
  401: 'An unknown client (`invalid_client`).',
  429: 'Too many requests from this address (`rate_limited`, or `slow_down` for a device poll); see Retry-After.',
};

export const issuerOperations: ApiOperation[] = [
  {
    method: 'get',
    path: '/.well-known/openid-configuration',
    tag: 'oauth',
    summary: 'OIDC discovery',
    auth: 'none',
    responses: { 200: json('The issuer’s metadata.', 'OpenIdConfiguration', discovery) },
  },
  {
    method: 'get',
    path: '/.well-known/jwks.json',
    tag: 'oauth',
    summary: 'The issuer’s public keys (JWKS)',
    auth: 'none',
    responses: { 200: { description: 'The key set.', content: { 'application/jwk-set+json': { kind: 'json', name: 'Jwks', schema: jwks } } } },
  },
  {
    method: 'post',
    path: '/oauth/token',
    tag: 'oauth',
    summary: 'The token endpoint: authorization code with PKCE, refresh (rotating), and the device grant',
    auth: 'none',
    body: { media: 'application/x-www-form-urlencoded', schema: tokenRequest, required: true },
    responses: { 200: json('The tokens.', 'TokenSet', tokenSet), ...oauthErrors(OAUTH_ERRORS) },
  },
  {
    method: 'post',
    path: '/oauth/device_authorization',
    tag: 'oauth',
    summary: 'Start a device authorization (RFC 8628)',
    auth: 'none',
    body: {
      media: 'application/x-www-form-urlencoded',
      schema: z.object({ client_id: z.string(), scope: z.string().optional() }),
      required: true,
    },
    responses: {
      200: json('The device and user codes.', 'DeviceAuthorization', deviceAuthorization),
      ...oauthErrors({ 401: OAUTH_ERRORS[401], 429: OAUTH_ERRORS[429] }),
    },
  },
];
