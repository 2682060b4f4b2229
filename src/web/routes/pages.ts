import { Router } from 'express';
import { decodeJwt } from 'jose';
import { reachableNodes, resolveAccess } from '../../access/index.js';
import { loginRedirect } from '../../core/redirect-target.js';
import { redirectPolicyOf, type WebDeps } from '../deps.js';
import { asyncHandler, currentSession } from '../middleware.js';
import { homePage } from '../views/pages.js';
import { gatewayTokenFor } from '../principal.js';

export function pageRoutes(deps: WebDeps): Router {
  const router = Router();
  router.get(
    '/',
    asyncHandler(async (req, res) => {
      const session = await currentSession(deps, req);
      if (!session) return res.redirect(302, loginRedirect('/', redirectPolicyOf(deps)));
      const token = await gatewayTokenFor(deps, session);
      // Nodes this person can open a web terminal on, with the logins they may use there.
      const nodes = reachableNodes(resolveAccess(session.identity, deps.policy), deps.config.ssh?.nodes ?? []);
      res.type('html').send(homePage({ session, tokenClaims: decodeJwt(token), demo: deps.demo, nodes }));
    }),
  );
  return router;
}
