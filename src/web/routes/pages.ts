import { Router } from 'express';
import { decodeJwt } from 'jose';
import { accessCatalogue } from '../../access/catalogue.js';
import { loginRedirect } from '../../core/redirect-target.js';
import { createAppRegistry } from '../../proxy/http/apps.js';
import { redirectPolicyOf, type WebDeps } from '../deps.js';
import { asyncHandler, currentSession } from '../middleware.js';
import { readPageScript, serveAsset } from '../static-asset.js';
import type { CatalogueView } from '../views/catalogue.js';
import { homePage } from '../views/pages.js';
import { gatewayTokenFor } from '../principal.js';

/** How many of the person's own recordings "My access" lists (the rest are on /recordings). */
const RECENT_RECORDINGS = 5;

/** `/`: "My access", the catalogue of what the person can reach, each with a way in. */
export function pageRoutes(deps: WebDeps): Router {
  const router = Router();
  // Where each app is opened: its own host, or its path on the gateway (the app proxy's own rules).
  const appUrls = new Map(
    createAppRegistry(deps.config).apps.map((a) => [a.name, a.publicHost ? `${a.origin}/` : a.path ? `${a.origin}${a.path}` : undefined]),
  );
  router.get(
    '/',
    asyncHandler(async (req, res) => {
      const session = await currentSession(deps, req);
      if (!session) return res.redirect(302, loginRedirect('/', redirectPolicyOf(deps)));
      const token = await gatewayTokenFor(deps, session);
      const found = accessCatalogue(session.identity, deps.policy, {
        apps: deps.config.apps,
        nodes: deps.config.ssh?.nodes ?? [],
        clusters: deps.config.clusters,
        // Without the db listener (`db`) nobody can connect, so no database is listed.
        databases: deps.config.db ? deps.config.databases : [],
        databaseRoles: deps.config.roles,
      });
      const catalogue: CatalogueView = {
        server: deps.config.server.public_url,
        roles: found.access.roles,
        apps: found.apps.map((a) => ({ name: a.name, url: appUrls.get(a.name) })),
        nodes: found.nodes.map(({ name, labels, logins }) => ({ name, labels, logins })),
        clusters: found.clusters.map(({ name }) => ({ name })),
        databases: found.databases.map(({ name, protocol, labels, users, names, connect }) => ({ name, protocol, labels, users, names, connect })),
        recordings: (await deps.recordings?.list({ owner: session.identity.username, limit: RECENT_RECORDINGS })) ?? [],
      };
      res.type('html').send(homePage({ session, tokenClaims: decodeJwt(token), demo: deps.demo, catalogue }));
    }),
  );
  serveAsset(router, '/static/copy-command.js', 'application/javascript', () => readPageScript('copy-command.js'));
  return router;
}
