import express, { type Express } from 'express';
import helmet from 'helmet';
import type { WebDeps } from './deps.js';
import { errorHandler, notFound } from './errors.js';
import { attachContext, currentSession, noStore } from './middleware.js';
import { apiRoutes } from './routes/api.js';
import { auditRoutes } from './routes/audit.js';
import { authRoutes } from './routes/auth.js';
import { backchannelLogoutRoutes } from './routes/backchannel-logout.js';
import { issuerRoutes } from './routes/issuer.js';
import { kubeArtefactRoutes } from './routes/kube.js';
import { oauthRoutes } from './routes/oauth.js';
import { openapiRoutes } from './routes/openapi.js';
import { opsRoutes } from './routes/ops.js';
import { pageRoutes } from './routes/pages.js';
import { samlRoutes } from './routes/saml.js';
import { sshRoutes } from './routes/ssh.js';
import { dbRoutes } from './routes/db.js';
import { requestRoutes } from './routes/requests.js';
import { requestPageRoutes } from './routes/request-pages.js';
import { recordingRoutes } from './routes/recordings.js';
import { terminalRoutes } from './routes/terminal.js';
import { STYLES } from './views/styles.js';

/** Pages and the API. Data paths (proxies, forward-auth, TokenReview) are dispatched before this, at the http.Server. */
export function createWebApp(deps: WebDeps): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.set('query parser', 'simple');

  app.use(attachContext(deps.config.server.trust_proxy_hops, deps.logger));
  // Every page and API answer may carry a session's data (token claims, device codes, audit
  // events): none is stored by browsers or shared caches. Routes serving public assets opt out.
  app.use(noStore);
  app.use(opsRoutes(deps));

  // The demo IdP renders its own pages; it is mounted before our CSP applies.
  for (const mount of deps.connectors.mounts) app.use(mount.path, mount.router);

  // Logout may redirect to an IdP's end-session page, so forms may target IdP origins.
  const idpOrigins = deps.config.connectors.flatMap((c) => (c.type === 'oidc' ? [new URL(c.issuer).origin] : []));
  // SAML single logout goes to the IdP named in its metadata; its metadata URL's origin is the usual host.
  for (const c of deps.config.connectors) if (c.type === 'saml' && c.idp_metadata_url) idpOrigins.push(new URL(c.idp_metadata_url).origin);
  app.use(
    helmet({
      contentSecurityPolicy: {
        directives: {
          defaultSrc: ["'self'"],
          formAction: ["'self'", ...idpOrigins],
          frameAncestors: ["'none'"],
          upgradeInsecureRequests: deps.cookies.secure ? [] : null,
        },
      },
      strictTransportSecurity: deps.cookies.secure,
      referrerPolicy: { policy: 'no-referrer' },
    }),
  );
  app.get('/static/gatehouse.css', (_req, res) => {
    res.setHeader('cache-control', 'public, max-age=3600');
    res.type('css').send(STYLES);
  });
  app.use(issuerRoutes(deps));
  app.use(authRoutes(deps));
  app.use(backchannelLogoutRoutes(deps));
  app.use(oauthRoutes(deps, deps.oauth));
  app.use(samlRoutes(deps));
  app.use(openapiRoutes(deps));
  app.use(apiRoutes(deps));
  app.use(kubeArtefactRoutes(deps));
  app.use(auditRoutes(deps));
  app.use(sshRoutes(deps));
  app.use(dbRoutes(deps));
  app.use(requestRoutes(deps));
  app.use(requestPageRoutes(deps));
  app.use(recordingRoutes(deps));
  app.use(terminalRoutes(deps));
  app.use(pageRoutes(deps));
  app.use((_req, _res, next) => next(notFound()));
  app.use(errorHandler({ logger: deps.logger, demo: deps.demo, audit: deps.audit, session: (req) => currentSession(deps, req) }));
  return app;
}
