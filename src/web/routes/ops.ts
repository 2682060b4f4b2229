import { Router } from 'express';
import type { WebDeps } from '../deps.js';

/**
 * Liveness says the process runs; readiness says it can serve logins (store and keys reachable)
 * and record them (the audit backend, or its spool, accepts events durably).
 */
export function opsRoutes(deps: WebDeps): Router {
  const router = Router();
  router.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  router.get('/metrics', async (_req, res) => {
    res.type(deps.metrics.registry.contentType).send(await deps.metrics.registry.metrics());
  });
  router.get('/readyz', async (_req, res) => {
    // Draining: stop receiving new traffic while in-flight requests finish.
    if (deps.lifecycle.draining) return void res.status(503).json({ ready: false, checks: { lifecycle: 'shutting down' } });
    const checks: Record<string, string> = {};
    let auditReady = false;
    await Promise.all([
      deps.auditLog.status().then(
        (status) => {
          checks.audit = status.detail;
          auditReady = status.ready;
        },
        (err: Error) => (checks.audit = err.message),
      ),
      deps.store.ping().then(
        () => (checks.store = 'ok'),
        (err: Error) => (checks.store = err.message),
      ),
      deps.keys.jwks().then(
        () => (checks.signing_keys = 'ok'),
        (err: Error) => (checks.signing_keys = err.message),
      ),
    ]);
    // The audit check may be degraded (spooling) yet ready; every other check must be ok.
    const ready = auditReady && Object.entries(checks).every(([k, v]) => k === 'audit' || v === 'ok');
    res.status(ready ? 200 : 503).json({ ready, checks });
  });
  return router;
}
