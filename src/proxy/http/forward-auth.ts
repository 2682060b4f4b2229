import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AuditInput } from '../../audit/sink.js';
import { isGatehouseError } from '../../core/errors.js';
import type { RequestContext } from '../../core/types.js';
import type { AppRegistry } from './apps.js';
import type { Credential, Decision } from './identity.js';
import { signedOutRedirect } from './signed-out.js';

/**
 * `GET /auth/verify`: forward-auth for nginx `auth_request`, Traefik `forwardAuth` and Caddy
 * `forward_auth`. The proxy in front passes the client's headers; we answer
 * - 200 with X-Auth-Request-User/Email/Groups, Gatehouse-Jwt-Assertion and the app's configured
 *   headers when the caller is signed in and passes the check,
 * - 401 when there is no valid session (gateway cookie, the app's own cookie, or a gateway token);
 *   with `?signed_out=redirect` (Traefik, Caddy), a browser gets a 302 to sign in instead, built
 *   from X-Forwarded-* and checked (signed-out.ts), or 400 `return_to_rejected` (audited),
 * - 403 when the check fails: `?app=NAME` (the app's role check), `?allowed_groups=a,b` (any of
 *   these upstream groups), or both. Neither: any signed-in person passes.
 * - 400 `invalid_allowed_groups` when `allowed_groups` is given but names no group after empty
 *   entries are dropped (`?allowed_groups=,`): an empty list refuses, it never means "anyone".
 * Bodies are short JSON (with nosniff); proxies use the status and the headers.
 */

export interface ForwardAuthDeps {
  registry: AppRegistry;
  credentials(req: IncomingMessage, appName: string | undefined): Credential[];
  decide(
    credentials: Credential[],
    appName: string | undefined,
    ctx: { context: RequestContext; allowedGroups?: string[] },
  ): Decision | Promise<Decision | null> | null;
  context(req: IncomingMessage): RequestContext;
  logger: { error(obj: object, msg: string): void };
  publicUrl: string;
  /** Best-effort audit (a refused forwarded address). */
  emit(input: AuditInput): Promise<void>;
}

type SignedOut = '401' | 'redirect';

const json = (res: ServerResponse, status: number, body: Record<string, unknown>, headers: Record<string, string> = {}) => {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json',
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
    'content-length': Buffer.byteLength(text),
    ...headers,
  });
  res.end(text);
};

export function createForwardAuth(deps: ForwardAuthDeps) {
  const unauthenticated = (req: IncomingMessage, res: ServerResponse, appName: string | undefined, signedOut: SignedOut) => {
    if (signedOut === 'redirect') {
      try {
        const location = signedOutRedirect(req.headers, deps.publicUrl, appName ? deps.registry.byName.get(appName) : undefined);
        if (location) return json(res, 302, { error: 'unauthenticated', message: 'Sign in first.' }, { location });
      } catch (err) {
        const context = deps.context(req);
        if (!isGatehouseError(err)) {
          deps.logger.error({ err, requestId: context.requestId }, 'forward-auth failed');
          return json(res, 500, { error: 'internal_error', message: 'Try again shortly.' });
        }
        void deps.emit({ type: 'app.session.start', outcome: 'failure', reason: err.code, details: { app: appName, via: 'forward-auth' }, context });
        return json(
          res,
          err.status,
          { error: err.code, message: err.message, request_id: context.requestId },
          context.requestId ? { 'x-request-id': context.requestId } : {},
        );
      }
    }
    json(res, 401, { error: 'unauthenticated', message: 'Sign in first.' });
  };

  const answer = (req: IncomingMessage, res: ServerResponse, decision: Decision | null, appName: string | undefined, signedOut: SignedOut) => {
    if (!decision) return unauthenticated(req, res, appName, signedOut);
    if (!decision.allowed) {
      return json(res, 403, {
        error: 'access_denied',
        message: appName ? `You do not have access to the app "${appName}".` : 'You are not in an allowed group.',
      });
    }
    const headers: Record<string, string> = { 'cache-control': 'no-store', 'x-content-type-options': 'nosniff', 'content-length': '0' };
    headers['x-auth-request-user'] = decision.headers.find(([n]) => n === 'x-forwarded-user')![1];
    headers['x-auth-request-preferred-username'] = headers['x-auth-request-user'];
    const email = decision.headers.find(([n]) => n === 'x-forwarded-email');
    if (email) headers['x-auth-request-email'] = email[1];
    headers['x-auth-request-groups'] = decision.headers.find(([n]) => n === 'x-forwarded-groups')![1];
    for (const [name, value] of decision.headers) if (!name.startsWith('x-forwarded-')) headers[name] = value;
    res.writeHead(200, headers);
    res.end();
  };

  return (req: IncomingMessage, res: ServerResponse, query: URLSearchParams): void => {
    const appName = query.get('app') ?? undefined;
    const signedOut = query.get('signed_out') ?? '401';
    if (signedOut !== '401' && signedOut !== 'redirect') {
      return json(res, 400, { error: 'invalid_request', message: 'signed_out is "401" (the default, for nginx) or "redirect" (Traefik, Caddy).' });
    }
    // Every `allowed_groups` given counts (repeated parameters too); empty entries are ignored.
    const allowedGroups = query.has('allowed_groups')
      ? [
          ...new Set(
            query
              .getAll('allowed_groups')
              .flatMap((p) => p.split(','))
              .map((g) => g.trim())
              .filter(Boolean),
          ),
        ]
      : undefined;
    if (allowedGroups && !allowedGroups.length) {
      return json(res, 400, { error: 'invalid_allowed_groups', message: 'allowed_groups names no group; leave it out to allow any signed-in person.' });
    }
    if (appName !== undefined && !deps.registry.byName.has(appName)) {
      return json(res, 404, { error: 'unknown_app', message: `There is no app called "${appName}".` });
    }
    const credentials = deps.credentials(req, appName);
    if (!credentials.length) return unauthenticated(req, res, appName, signedOut);
    let ctx: RequestContext | undefined;
    const result = deps.decide(credentials, appName, {
      get context() {
        return (ctx ??= deps.context(req));
      },
      allowedGroups,
    });
    if (!(result instanceof Promise)) return answer(req, res, result, appName, signedOut);
    result.then(
      (decision) => answer(req, res, decision, appName, signedOut),
      (err: Error & { status?: number; code?: string }) => {
        deps.logger.error({ err }, 'forward-auth failed');
        const status = err.status === 503 ? 503 : 500;
        json(res, status, { error: status === 503 ? 'store_unavailable' : 'internal_error', message: 'Try again shortly.' });
      },
    );
  };
}
