import type { IncomingMessage } from 'node:http';
import type { RequestContext } from '../../core/types.js';
import { parseBearer } from '../../tokens/gateway-token.js';
import type { HttpApp } from './apps.js';
import { APP_SESSION_COOKIE, type CookieJar } from './handoff.js';
import type { Credential, Decision, DecisionContext, IdentityEngine } from './identity.js';

/** Who a request is from: the credentials it carries, and the decision for the first that resolves. */
export interface CredentialChain {
  /** Credentials in the order they are tried: the cookie that fits the place, then a gateway token. */
  credentialsFor(req: IncomingMessage, app: HttpApp | undefined, allowGatewayCookie: boolean): Credential[];
  /**
   * The first credential, in order, that resolves: a valid cookie always wins over a gateway token,
   * whatever is cached. A credential is skipped without I/O only when it is cached as invalid.
   * Synchronous when every step is cached.
   */
  decide(credentials: Credential[], app: HttpApp | undefined, ctx: DecisionContext): Decision | Promise<Decision | null> | null;
}

export function createCredentialChain(deps: { cookies: CookieJar; sessionCookie: string; engine: IdentityEngine }): CredentialChain {
  const { cookies, engine } = deps;
  return {
    credentialsFor(req, app, allowGatewayCookie) {
      const out: Credential[] = [];
      if (allowGatewayCookie) {
        const id = cookies.read(req, deps.sessionCookie);
        if (id) out.push({ kind: 'session', id });
      }
      if (app?.publicHost) {
        const id = cookies.read(req, APP_SESSION_COOKIE);
        if (id) out.push({ kind: 'app-session', id, app: app.name });
      }
      const bearer = parseBearer(req.headers.authorization);
      if (bearer) out.push({ kind: 'bearer', token: bearer });
      return out;
    },
    decide(credentials, app, ctx) {
      for (let i = 0; i < credentials.length; i++) {
        const hit = engine.peek(credentials[i], app, ctx.allowedGroups);
        if (hit) return hit;
        if (engine.rejected(credentials[i])) continue;
        return (async () => {
          for (const credential of credentials.slice(i)) {
            const decision = await engine.decide(credential, app, ctx);
            if (decision) return decision;
          }
          return null;
        })();
      }
      return null;
    },
  };
}

/** A decision context whose request context is only built if an audit event needs it. */
export function lazyContext(req: IncomingMessage, context: (req: IncomingMessage) => RequestContext): DecisionContext {
  let ctx: RequestContext | undefined;
  return {
    get context() {
      return (ctx ??= context(req));
    },
  };
}
