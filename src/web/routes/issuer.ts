import { Router } from 'express';
import type { WebDeps } from '../deps.js';
import { asyncHandler } from '../middleware.js';

/** OIDC discovery and the JWKS: what API servers, apps and the CLI use to trust our tokens. */
export function issuerRoutes(deps: WebDeps): Router {
  const router = Router();
  router.get('/.well-known/openid-configuration', (_req, res) => {
    res.setHeader('cache-control', 'public, max-age=300');
    res.setHeader('access-control-allow-origin', '*');
    res.json(deps.issuer.discovery());
  });
  router.get(
    '/.well-known/jwks.json',
    asyncHandler(async (_req, res) => {
      res.setHeader('cache-control', 'public, max-age=300');
      res.setHeader('access-control-allow-origin', '*');
      res.type('application/jwk-set+json').send(JSON.stringify(await deps.keys.jwks()));
    }),
  );
  return router;
}
