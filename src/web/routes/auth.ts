import express, { Router } from 'express';
import { randomId } from '../../core/ids.js';
import { sessionRef } from '../../sessions/sessions.js';
import { setJson } from '../../store/store.js';
import { redirectPolicyOf, SESSION_COOKIE, type WebDeps } from '../deps.js';
import { bindingCookie, createLoginFlow, LOGIN_TTL_SECONDS, stateKey, type LoginState } from '../login-flow.js';
import { redirectTarget } from '../../core/redirect-target.js';
import { checkCsrf, csrfToken } from '../csrf.js';
import { asyncHandler, currentSession } from '../middleware.js';
import { loginPage, logoutPage } from '../views/pages.js';

export function authRoutes(deps: WebDeps): Router {
  const router = Router();
  const { config, connectors, audit, cookies, store } = deps;
  const publicUrl = config.server.public_url;
  const redirectPolicy = redirectPolicyOf(deps);
  const checkReturnTo = (value: unknown) => redirectTarget(value, redirectPolicy);

  const flow = createLoginFlow(deps);
  const { ctxOf, rateLimit, connectorOr404 } = flow;
  const failLogin = flow.fail;

  router.get('/login', async (req, res) => {
    try {
      const returnTo = checkReturnTo(req.query.return_to);
      const chosen = req.query.connector;
      if (typeof chosen === 'string' && chosen) {
        const query = returnTo === '/' ? '' : `?return_to=${encodeURIComponent(returnTo)}`;
        return res.redirect(302, `/login/${encodeURIComponent(chosen)}${query}`);
      }
      const list = [...connectors.byId.values()].map((c) => ({ id: c.id, name: c.name }));
      res.type('html').send(loginPage({ connectors: list, returnTo, demo: deps.demo }));
    } catch (err) {
      // A refused return_to is a failed login start: audited like the others.
      await failLogin(req, res, err);
    }
  });

  router.get('/login/:connector', async (req, res) => {
    const id = req.params.connector;
    try {
      await rateLimit(res);
      const connector = connectorOr404(id);
      const returnTo = checkReturnTo(req.query.return_to);
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
      const state = typeof req.query.state === 'string' ? req.query.state : undefined;
      await flow.complete(req, res, { connectorId: id, state, callbackUrl: new URL(req.originalUrl, publicUrl) });
    } catch (err) {
      await failLogin(req, res, err, id);
    }
  });

  // GET /logout only asks: a cross-site link or image cannot end the session. The page's form
  // POSTs with the session's CSRF token; POST also accepts a same-origin fetch (Sec-Fetch-Site).
  router.get(
    '/logout',
    asyncHandler(async (req, res) => {
      const session = await currentSession(deps, req);
      if (!session) return res.redirect(302, redirectTarget('/login', redirectPolicy));
      res.type('html').send(logoutPage({ user: session.identity.username, csrf: csrfToken(session.id), demo: deps.demo }));
    }),
  );
  router.post(
    '/logout',
    express.urlencoded({ extended: false, limit: '4kb' }),
    asyncHandler(async (req, res) => {
      const session = await currentSession(deps, req);
      if (!session) {
        cookies.clear(res, SESSION_COOKIE);
        return res.redirect(302, redirectTarget('/login', redirectPolicy));
      }
      const sameOrigin =
        req.headers['sec-fetch-site'] === 'same-origin' &&
        (req.headers.origin === undefined || req.headers.origin === 'null' || req.headers.origin === new URL(publicUrl).origin);
      // A failure is a 403 csrf_failed, audited as auth.csrf_rejected by the error handler; the session stays.
      if (!sameOrigin) checkCsrf(req, session.id, publicUrl);
      cookies.clear(res, SESSION_COOKIE);
      await deps.sessions.destroy(session.id);
      const connector = connectors.byId.get(session.identity.connector);
      const upstream = await connector
        ?.logoutUrl?.({
          upstreamIdToken: session.upstreamIdToken,
          upstreamLogout: session.upstreamLogout,
          postLogoutRedirectUri: `${publicUrl}/login`,
        })
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
      // The IdP's end-session URL comes from its discovery document or metadata (configured), not from the request.
      res.redirect(302, upstream ?? redirectTarget('/login', redirectPolicy));
    }),
  );

  return router;
}
