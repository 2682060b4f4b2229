import { createHash, timingSafeEqual } from 'node:crypto';
import { parseBearer } from '../../tokens/gateway-token.js';
import { readFileSync } from 'node:fs';
import { Router, type Request } from 'express';
import { GatehouseError } from '../../core/errors.js';
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
  // Metrics reveal traffic, users' connectors and app names: only Prometheus, with its bearer
  // token (server.metrics_bearer_token_file), may read them; without a token file they are not served.
  const metricsToken = readMetricsToken(deps.config.server.metrics_bearer_token_file);
  router.get('/metrics', async (req, res, next) => {
    if (!metricsToken) return next(new GatehouseError('not_found', 'Nothing here.', { status: 404 }));
    if (!bearerMatches(req, metricsToken)) {
      res.setHeader('www-authenticate', 'Bearer realm="gatehouse-metrics"');
      return next(new GatehouseError('metrics_unauthorized', 'GET /metrics needs the metrics bearer token.', { status: 401 }));
    }
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

function readMetricsToken(path: string | undefined): Buffer | undefined {
  if (!path) return undefined;
  const token = readFileSync(path, 'utf8').trim();
  if (token.length < 16 || parseBearer(`Bearer ${token}`) !== token) {
    throw new GatehouseError(
      'config_invalid',
      `server.metrics_bearer_token_file: ${path} must hold a token of at least 16 characters from A-Z a-z 0-9 - . _ ~ + / (RFC 6750).`,
    );
  }
  return createHash('sha256').update(token).digest();
}

/** Compares digests, so neither the token's length nor its content leaks through timing. */
function bearerMatches(req: Request, expected: Buffer): boolean {
  const token = parseBearer(req.headers.authorization);
  return token !== undefined && timingSafeEqual(createHash('sha256').update(token).digest(), expected);
}
