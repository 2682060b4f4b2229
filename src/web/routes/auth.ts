import { Router, type Request, type Response } from 'express';
import { GatehouseError, isGatehouseError } from '../../core/errors.js';
import { randomId } from '../../core/ids.js';
import type { RequestContext } from '../../core/types.js';
import type { PendingLogin } from '../../connectors/connector.js';
import { sessionRef } from '../../sessions/sessions.js';
import { setJson, takeJson } from '../../store/store.js';
import { SESSION_COOKIE, type WebDeps } from '../deps.js';
import { sendError } from '../errors.js';
import { asyncHandler, currentSession } from '../middleware.js';
import { appPublicHosts, checkReturnTo } from '../return-to.js';
import { loginPage } from '../views/pages.js';

/** A login in flight, stored take-once under its state until the callback. */
interface LoginState {
  connector: string;
  pending: PendingLogin;
  returnTo: string;
  /** Equals the value of this login's browser cookie: the callback must come from the same browser. */
  binding: string;
}

const LOGIN_TTL_SECONDS = 600;
const stateKey = (state: string) => `login:${state}`;
/** Per-login cookie, so parallel logins in several tabs do not clobber each other. */
const bindingCookie = (state: string) => `gatehouse_login_${state.slice(0, 16)}`;

export function authRoutes(deps: WebDeps): Router {
  const router = Router();
  const { config, connectors, audit, cookies, store } = deps;
  const publicUrl = config.server.public_url;
  const returnToOptions = { publicUrl, allowedHosts: [...config.server.return_to_hosts, ...appPublicHosts(config)] };

  const ctxOf = (res: Response): RequestContext => res.locals.ctx;

  /** Every login failure is audited with its reason, then answered with status and code. */
  const failLogin = async (req: Request, res: Response, err: unknown, requested?: string) => {
    const reason = isGatehouseError(err) ? err.code : 'internal_error';
    // Only configured ids reach the audit log; anything else is attacker-controlled text.
    const connector = requested && connectors.byId.has(requested) ? requested : undefined;
    try {
      await audit.emit({ type: 'user.login', outcome: 'failure', connector, reason, context: ctxOf(res) });
    } catch (auditErr) {
      deps.logger.error({ err: auditErr }, 'audit write failed');
    }
    sendError(req, res, err, { logger: deps.logger, demo: deps.demo });
  };

  /** Counts login attempts per client address in a one-minute window, in the shared store. */
  const rateLimit = async (res: Response) => {
    const window = Math.floor(Date.now() / 60_000);
    const count = await store.increment(`ratelimit:login:${ctxOf(res).remoteAddr}:${window}`, 60);
    if (count > config.server.rate_limit.login_per_minute) {
      res.setHeader('retry-after', String(60 - (Math.floor(Date.now() / 1000) % 60)));
      throw new GatehouseError('rate_limited', 'Too many sign-in attempts; wait a minute and try again.', { status: 429 });
    }
  };

  const connectorOr404 = (id: string) => {
    const connector = connectors.byId.get(id);
    if (!connector) throw new GatehouseError('unknown_connector', `There is no sign-in method called "${id}".`, { status: 404 });
    return connector;
  };

  router.get('/login', (req, res, next) => {
    try {
      const returnTo = checkReturnTo(req.query.return_to, returnToOptions);
      const chosen = req.query.connector;
      if (typeof chosen === 'string' && chosen) {
        const query = returnTo === '/' ? '' : `?return_to=${encodeURIComponent(returnTo)}`;
        return res.redirect(302, `/login/${encodeURIComponent(chosen)}${query}`);
      }
      const list = [...connectors.byId.values()].map((c) => ({ id: c.id, name: c.name }));
      res.type('html').send(loginPage({ connectors: list, returnTo, demo: deps.demo }));
    } catch (err) {
      next(err);
    }
  });

  router.get('/login/:connector', async (req, res) => {
    const id = req.params.connector;
    try {
      await rateLimit(res);
      const connector = connectorOr404(id);
      const returnTo = checkReturnTo(req.query.return_to, returnToOptions);
      const state = randomId(32);
      const binding = randomId(32);
      const { url, pending } = await connector.startLogin({ state });
      const login: LoginState = { connector: id, pending, returnTo, binding };
      await setJson(store, stateKey(state), login, LOGIN_TTL_SECONDS);
      cookies.set(res, bindingCookie(state), binding, { maxAgeSeconds: LOGIN_TTL_SECONDS });
      res.redirect(302, url);
    } catch (err) {
      await failLogin(req, res, err, id);
    }
  });

  router.get('/callback/:connector', async (req, res) => {
    const id = req.params.connector;
    try {
      await rateLimit(res);
      const connector = connectorOr404(id);
      const state = req.query.state;
      if (typeof state !== 'string' || !/^[A-Za-z0-9_-]{43}$/.test(state)) throw stateMismatch('the callback carries no valid state');
      const login = await takeJson<LoginState>(store, stateKey(state));
      cookies.clear(res, bindingCookie(state));
      if (!login) throw stateMismatch('this login is unknown, expired or was already completed');
      if (login.connector !== id) throw stateMismatch('this login was started for another connector');
      if (cookies.read(req, bindingCookie(state)) !== login.binding) throw stateMismatch('this login was started in another browser');

      const callbackUrl = new URL(req.originalUrl, publicUrl);
      const { identity, upstreamIdToken } = await connector.finishLogin({ callbackUrl, state, pending: login.pending });

      // A fresh session id at every login: a pre-login cookie value can never become a session.
      const previous = cookies.read(req, SESSION_COOKIE);
      if (previous) await deps.sessions.destroy(previous);
      const session = await deps.sessions.create(identity, { upstreamIdToken });
      cookies.set(res, SESSION_COOKIE, session.id, { maxAgeSeconds: Math.floor(config.server.session.absolute_ttl / 1000) });
      await audit.emit({
        type: 'user.login',
        outcome: 'success',
        user: identity.username,
        connector: id,
        session_id: sessionRef(session.id),
        details: { email: identity.email, groups: identity.groups },
        context: ctxOf(res),
      });
      res.redirect(302, login.returnTo);
    } catch (err) {
      await failLogin(req, res, err, id);
    }
  });

  const logout = asyncHandler(async (req, res) => {
    const session = await currentSession(deps, req);
    cookies.clear(res, SESSION_COOKIE);
    if (!session) return res.redirect(302, '/login');
    await deps.sessions.destroy(session.id);
    const connector = connectors.byId.get(session.identity.connector);
    const upstream = await connector
      ?.logoutUrl?.({ upstreamIdToken: session.upstreamIdToken, postLogoutRedirectUri: `${publicUrl}/login` })
      .catch(() => undefined);
    await audit.emit({
      type: 'user.logout',
      outcome: 'success',
      user: session.identity.username,
      connector: session.identity.connector,
      session_id: sessionRef(session.id),
      details: { upstream_logout: Boolean(upstream) },
      context: ctxOf(res),
    });
    res.redirect(302, upstream ?? '/login');
  });
  router.get('/logout', logout);
  router.post('/logout', logout);

  return router;
}

const stateMismatch = (why: string) =>
  new GatehouseError('state_mismatch', `Sign-in could not be completed: ${why}. Please start again.`, { status: 400 });
