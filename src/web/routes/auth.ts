import { Router } from 'express';
import { randomId } from '../../core/ids.js';
import { sessionRef } from '../../sessions/sessions.js';
import { setJson } from '../../store/store.js';
import { SESSION_COOKIE, type WebDeps } from '../deps.js';
import { bindingCookie, createLoginFlow, LOGIN_TTL_SECONDS, stateKey, type LoginState } from '../login-flow.js';
import { asyncHandler, currentSession } from '../middleware.js';
import { appPublicHosts, checkReturnTo } from '../return-to.js';
import { loginPage } from '../views/pages.js';

export function authRoutes(deps: WebDeps): Router {
  const router = Router();
  const { config, connectors, audit, cookies, store } = deps;
  const publicUrl = config.server.public_url;
  const returnToOptions = { publicUrl, allowedHosts: [...config.server.return_to_hosts, ...appPublicHosts(config)] };

  const flow = createLoginFlow(deps);
  const { ctxOf, rateLimit, connectorOr404 } = flow;
  const failLogin = flow.fail;

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
      const state = typeof req.query.state === 'string' ? req.query.state : undefined;
      await flow.complete(req, res, { connectorId: id, state, callbackUrl: new URL(req.originalUrl, publicUrl) });
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
    res.redirect(302, upstream ?? '/login');
  });
  router.get('/logout', logout);
  router.post('/logout', logout);

  return router;
}
