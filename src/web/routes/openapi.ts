import { Router } from 'express';
import { openApiDocument } from '../api-schema/openapi.js';
import { SESSION_COOKIE, type WebDeps } from '../deps.js';

/** `GET /api/v1/openapi.json`: the API's OpenAPI 3.1 description, public (it holds no data, only shapes). */
export function openapiRoutes(deps: WebDeps): Router {
  const router = Router();
  let document: string | undefined;
  router.get('/api/v1/openapi.json', (_req, res) => {
    // Built on first use: most gateways are never asked.
    document ??= JSON.stringify(openApiDocument(deps.config.server.public_url, deps.cookies.name(SESSION_COOKIE)));
    res.setHeader('cache-control', 'public, max-age=300');
    res.setHeader('access-control-allow-origin', '*');
    res.type('application/json').send(document);
  });
  return router;
}
