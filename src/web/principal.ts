import type { Request } from 'express';
import { capToRequests, resolveAccess, type Access } from '../access/index.js';
import { GatehouseError, isGatehouseError } from '../core/errors.js';
import type { ExternalIdentity, RequestContext, Session } from '../core/types.js';
import { fromClaims, GATEWAY_AUDIENCE, parseBearer, toClaims } from '../tokens/gateway-token.js';
import type { WebDeps } from './deps.js';
import { currentSession } from './middleware.js';
import { createTokenRejections, type TokenRejections } from './token-rejections.js';
import { checkSameOrigin } from './csrf.js';

/** One deduplicating recorder per gateway (keyed by its audit sink, so tests' gateways stay apart). */
const rejections = new WeakMap<object, TokenRejections>();
const tokenRejections = (deps: WebDeps): TokenRejections => {
  let r = rejections.get(deps.audit);
  if (!r) rejections.set(deps.audit, (r = createTokenRejections(deps.audit, deps.logger)));
  return r;
};
const requestContextOf = (req: Request): RequestContext =>
  (req.res?.locals.ctx as RequestContext | undefined) ?? { remoteAddr: req.socket.remoteAddress, requestId: '' };

export { GATEWAY_AUDIENCE };

/** Who is calling, and what policy lets them do right now. */
export interface Principal {
  identity: ExternalIdentity;
  access: Access;
  /** Present for browser sessions; absent for bearer tokens. */
  session?: Session;
}

/**
 * A session cookie (browser) or `Authorization: Bearer` with a gateway token (CLI).
 * Access is resolved from the current policy on every request, so a config change applies at once.
 * A bearer token that fails verification is an error, never a fallback to anonymous.
 */
export async function authenticate(deps: WebDeps, req: Request): Promise<Principal | null> {
  const header = req.headers.authorization;
  if (header !== undefined) {
    try {
      const token = parseBearer(header);
      if (!token) throw new GatehouseError('invalid_token', 'Authorization must be "Bearer <token>".', { status: 401 });
      const { identity } = fromClaims(await deps.issuer.verify(token, { audience: GATEWAY_AUDIENCE }));
      return { identity, access: resolveAccess(identity, deps.policy) };
    } catch (err) {
      // Audited (deduplicated per address and reason), then answered 401 with the code.
      if (isGatehouseError(err) && err.status === 401) await tokenRejections(deps).record(err, requestContextOf(req), req.path);
      throw err;
    }
  }
  const session = await currentSession(deps, req);
  if (!session) return null;
  checkSameOrigin(req, deps.config.server.public_url);
  return { identity: session.identity, access: resolveAccess(session.identity, deps.policy), session };
}

export async function requirePrincipal(deps: WebDeps, req: Request): Promise<Principal> {
  const principal = await authenticate(deps, req);
  if (!principal) throw new GatehouseError('unauthenticated', 'Sign in first.', { status: 401 });
  return principal;
}

/** A short-lived gateway token for a session: what `authenticate` accepts as a bearer. */
export function gatewayTokenFor(deps: WebDeps, session: Session): Promise<string> {
  const { identity } = session;
  const access = resolveAccess(identity, deps.policy);
  return deps.issuer.mint({
    kind: 'access',
    audience: GATEWAY_AUDIENCE,
    ttlMs: capToRequests(access, Math.min(deps.config.tokens.ttl, session.expiresAt - Date.now())),
    ...toClaims(identity, { roles: access.roles, requests: access.requests.map((r) => r.id) }),
  });
}
