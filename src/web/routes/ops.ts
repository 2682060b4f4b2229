import { Router } from 'express';
import type { WebDeps } from '../deps.js';

/** Liveness says the process runs; readiness says it can serve logins (store and keys reachable). */
export function opsRoutes(deps: WebDeps): Router {
  const router = Router();
  router.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  router.get('/readyz', async (_req, res) => {
    const checks: Record<string, string> = {};
    await Promise.all([
      deps.store.ping().then(
        () => (checks.store = 'ok'),
        (err: Error) => (checks.store = err.message),
      ),
      deps.keys.jwks().then(
        () => (checks.signing_keys = 'ok'),
        (err: Error) => (checks.signing_keys = err.message),
      ),
    ]);
    const ready = Object.values(checks).every((v) => v === 'ok');
    res.status(ready ? 200 : 503).json({ ready, checks });
  });
  return router;
}
