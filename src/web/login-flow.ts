import type { Request, Response } from 'express';
import { bestEffort } from '../audit/sink.js';
import type { Connector, LoginResult, PendingLogin } from '../connectors/connector.js';
import { GatehouseError, isGatehouseError } from '../core/errors.js';
import type { RequestContext, Session } from '../core/types.js';
import { sessionRef } from '../sessions/sessions.js';
import { takeJson } from '../store/store.js';
import { redirectTarget } from '../core/redirect-target.js';
import { redirectPolicyOf, SESSION_COOKIE, type WebDeps } from './deps.js';
import { sendError } from './errors.js';
import { createFixedWindowLimiter } from '../store/rate-limit.js';

/** A login in flight, stored take-once under its state until the callback. */
export interface LoginState {
  connector: string;
  pending: PendingLogin;
  returnTo: string;
  /** Equals the value of this login's browser cookie: the callback must come from the same browser. */
  binding: string;
}

export const LOGIN_TTL_SECONDS = 600;
export const stateKey = (state: string) => `login:${state}`;
/** Per-login cookie, so parallel logins in several tabs do not clobber each other. */
export const bindingCookie = (state: string) => `gatehouse_login_${state.slice(0, 16)}`;
export const STATE_FORMAT = /^[A-Za-z0-9_-]{43}$/;

export interface CompleteOptions {
  connectorId: string;
  /** The web layer's state (OIDC `state`, SAML `RelayState`); absent for an unsolicited login. */
  state?: string;
  /** IdP-initiated (SAML): no state, no binding cookie; the connector decides whether it allows it. */
  unsolicited?: boolean;
  callbackUrl: URL;
  form?: Record<string, string>;
  /** IdP-initiated SAML: a RelayState that names where to go; checked like return_to, '/' when refused. */
  unsolicitedReturnTo?: string;
  /** Runs after the session exists and before the redirect (e.g. the SAML logout index). */
  onSession?(session: Session, result: LoginResult): Promise<void>;
}

/**
 * The end of every browser login, whatever the protocol: take the state once, check the
 * browser binding, let the connector validate the IdP's answer, replace any previous session
 * with a new one, audit, and redirect to return_to. OIDC's /callback and SAML's ACS both end here.
 */
export interface LoginFlow {
  ctxOf(res: Response): RequestContext;
  /** Audits a failed login with its reason (and the error's details), then answers with status and code. */
  fail(req: Request, res: Response, err: unknown, requested?: string): Promise<void>;
  /**
   * Counts one sign-in attempt (a login start or a SAML ACS post) in the client address's
   * one-minute budget, in the shared store. Over budget: sets Retry-After and returns the 429 to
   * answer, and whether it is the window's first refusal (a flood is audited once).
   */
  overBudget(res: Response): Promise<{ error: GatehouseError; first: boolean } | undefined>;
  /** overBudget, thrown. */
  rateLimit(res: Response): Promise<void>;
  connectorOr404(id: string): Connector;
  complete(req: Request, res: Response, options: CompleteOptions): Promise<void>;
}

export function createLoginFlow(deps: WebDeps): LoginFlow {
  const { config, connectors, audit, cookies, store } = deps;
  const ctxOf = (res: Response): RequestContext => res.locals.ctx;
  const redirectPolicy = redirectPolicyOf(deps);

  const connectorOr404 = (id: string) => {
    const connector = connectors.byId.get(id);
    if (!connector) throw new GatehouseError('unknown_connector', `There is no sign-in method called "${id.slice(0, 64)}".`, { status: 404 });
    return connector;
  };

  const loginLimiter = createFixedWindowLimiter(store, { name: 'login', limit: config.server.rate_limit.login_per_minute, windowSeconds: 60 });
  const overBudget: LoginFlow['overBudget'] = async (res) => {
    const hit = await loginLimiter.hit(ctxOf(res).remoteAddr ?? 'unknown');
    if (!hit.limited) return undefined;
    res.setHeader('retry-after', String(hit.retryAfterSeconds));
    return { error: new GatehouseError('rate_limited', 'Too many sign-in attempts; wait a minute and try again.', { status: 429 }), first: hit.first };
  };

  return {
    ctxOf,
    connectorOr404,

    async fail(req, res, err, requested) {
      const reason = isGatehouseError(err) ? err.code : 'internal_error';
      // Only configured ids reach the audit log; anything else is attacker-controlled text.
      const connector = requested && connectors.byId.has(requested) ? requested : undefined;
      const details = {
        ...(isGatehouseError(err) ? err.details : {}),
        ...(requested !== undefined && !connector ? { requested_connector: requested.slice(0, 64) } : {}),
      };
      await bestEffort(
        audit,
        deps.logger,
      )({ type: 'user.login', outcome: 'failure', connector, reason, details: Object.keys(details).length ? details : undefined, context: ctxOf(res) });
      sendError(req, res, err, { logger: deps.logger, demo: deps.demo });
    },

    overBudget,

    // Login starts are counted; completions are bound to a start.
    async rateLimit(res) {
      const over = await overBudget(res);
      if (over) throw over.error;
    },

    async complete(req, res, options) {
      const id = options.connectorId;
      const connector = connectorOr404(id);
      let pending: PendingLogin = {};
      let returnTo = '/';
      if (!options.unsolicited) {
        const { state } = options;
        if (typeof state !== 'string' || !STATE_FORMAT.test(state)) throw stateMismatch('the callback carries no valid state');
        const login = await takeJson<LoginState>(store, stateKey(state));
        cookies.clear(res, bindingCookie(state));
        if (!login) throw stateMismatch('this login is unknown, expired or was already completed');
        if (login.connector !== id) throw stateMismatch('this login was started for another connector');
        if (cookies.read(req, bindingCookie(state)) !== login.binding) throw stateMismatch('this login was started in another browser');
        pending = login.pending;
        // Checked again where it is used: the stored value may predate a config change.
        returnTo = redirectTarget(login.returnTo, redirectPolicy);
      } else if (options.unsolicitedReturnTo !== undefined) {
        try {
          returnTo = redirectTarget(options.unsolicitedReturnTo, redirectPolicy);
        } catch {
          returnTo = '/';
        }
      }

      const result = await connector.finishLogin({ callbackUrl: options.callbackUrl, state: options.state ?? '', pending, form: options.form });
      const { identity, upstreamIdToken, upstreamLogout, upstreamRefreshToken } = result;

      // A fresh session id at every login: a pre-login cookie value can never become a session.
      const previous = cookies.read(req, SESSION_COOKIE);
      if (previous) await deps.sessions.destroy(previous);
      const session = await deps.sessions.create(identity, { upstreamIdToken, upstreamLogout, upstreamRefreshToken });
      await options.onSession?.(session, result);
      // Requests name who may review them: people are remembered when they sign in.
      await deps.requests
        ?.rememberPerson(identity)
        .catch((err: Error) => deps.logger.warn({ err: err.message }, 'could not remember the person for access requests'));
      try {
        await audit.emit({
          type: 'user.login',
          outcome: 'success',
          user: identity.username,
          connector: id,
          session_id: sessionRef(session.id),
          details: { email: identity.email, groups: identity.groups, ...(options.unsolicited ? { idp_initiated: true } : {}) },
          context: ctxOf(res),
        });
      } catch (auditErr) {
        // No audit record, no session: the login is refused (fail closed, audit.on_failure: refuse).
        await deps.sessions.destroy(session.id).catch(() => undefined);
        throw auditErr;
      }
      cookies.set(res, SESSION_COOKIE, session.id, { maxAgeSeconds: Math.floor(config.server.session.absolute_ttl / 1000) });
      res.redirect(302, returnTo);
    },
  };
}

export const stateMismatch = (why: string) =>
  new GatehouseError('state_mismatch', `Sign-in could not be completed: ${why}. Please start again.`, { status: 400 });
