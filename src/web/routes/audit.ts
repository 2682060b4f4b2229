/**
 * The audit log's API and pages.
 *
 * - `GET /api/v1/audit/events`: filters (see src/audit/query.ts), `limit`, `cursor`, `order`;
 *   JSON pages, or a streamed export with `Accept: application/x-ndjson`, `format=ndjson` or
 *   `format=csv` (every match from the cursor on, or `limit` of them when given).
 * - `GET /api/v1/audit/events/:id`, `GET /api/v1/audit/verify` (auditors only).
 * - `GET /audit` (search page) and `GET /audit/:id` (one event), server-rendered, no scripts.
 * Permissions: a role with `audit: read` sees everything; anyone else's query is restricted to
 * `user = <their username>` inside the query itself, so pages and cursors never see other
 * events. Asking for someone else's events is refused (403 `audit_forbidden`) and audited.
 */
import { Router, type Response } from 'express';
import { bestEffort } from '../../audit/sink.js';
import { csvHeader, csvRow } from '../../audit/export.js';
import { parseAuditQuery, type AuditQuery } from '../../audit/query.js';
import { GatehouseError, isGatehouseError } from '../../core/errors.js';
import { loginRedirect } from '../../core/redirect-target.js';
import { redirectPolicyOf, type WebDeps } from '../deps.js';
import { asyncHandler } from '../middleware.js';
import { authenticate, requirePrincipal, type Principal } from '../principal.js';
import { auditEventPage, auditPage } from '../views/audit.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const forbidden = () => new GatehouseError('audit_forbidden', 'You may read only your own audit events.', { status: 403 });
const notFound = () => new GatehouseError('not_found', 'No such audit event.', { status: 404 });

export function auditRoutes(deps: WebDeps): Router {
  const router = Router();
  const log = deps.auditLog;

  const deny = async (res: Response, principal: Principal, what: string, requestedUser?: string) => {
    await bestEffort(
      deps.audit,
      deps.logger,
    )({
      type: 'audit.read',
      outcome: 'failure',
      user: principal.identity.username,
      connector: principal.identity.connector,
      roles: principal.access.roles,
      reason: 'audit_forbidden',
      details: { attempted: what, ...(requestedUser !== undefined ? { requested_user: requestedUser } : {}) },
      context: res.locals.ctx,
    });
    return forbidden();
  };

  /** The caller's query, restricted to their own events unless they may read everything. */
  const scopedQuery = async (res: Response, principal: Principal, params: Record<string, unknown>): Promise<AuditQuery> => {
    const query = parseAuditQuery(params);
    if (principal.access.auditRead) return query;
    const own = principal.identity.username;
    if (query.user !== undefined && query.user !== own) throw await deny(res, principal, 'events', query.user);
    return { ...query, user: own };
  };

  router.get(
    '/api/v1/audit/events',
    asyncHandler(async (req, res) => {
      const principal = await requirePrincipal(deps, req);
      const query = await scopedQuery(res, principal, req.query);
      res.setHeader('cache-control', 'no-store');
      const format =
        typeof req.query.format === 'string' ? req.query.format : req.accepts(['json', 'application/x-ndjson']) === 'application/x-ndjson' ? 'ndjson' : 'json';
      if (format === 'json') return void res.json(await log.query(query));
      if (format !== 'ndjson' && format !== 'csv') throw new GatehouseError('invalid_query', 'format must be json, ndjson or csv', { status: 400 });
      await streamExport(res, query, format, req.query.limit !== undefined);
    }),
  );

  router.get(
    '/api/v1/audit/events/:id',
    asyncHandler(async (req, res) => {
      const principal = await requirePrincipal(deps, req);
      const event = await findEvent(principal, String(req.params.id));
      if (!event) throw notFound();
      res.setHeader('cache-control', 'no-store');
      res.json(event);
    }),
  );

  router.get(
    '/api/v1/audit/verify',
    asyncHandler(async (req, res) => {
      const principal = await requirePrincipal(deps, req);
      if (!principal.access.auditRead) throw await deny(res, principal, 'verify');
      res.setHeader('cache-control', 'no-store');
      res.json({ backend: log.kind, ...(await log.verify()) });
    }),
  );

  router.get(
    '/audit',
    asyncHandler(async (req, res) => {
      const principal = await authenticate(deps, req);
      if (!principal) return res.redirect(302, loginRedirect(req.originalUrl, redirectPolicyOf(deps)));
      const base = { demo: deps.demo, username: principal.identity.username, auditor: principal.access.auditRead };
      let query: AuditQuery;
      try {
        query = await scopedQuery(res, principal, req.query);
      } catch (err) {
        if (!isGatehouseError(err) || err.code !== 'invalid_query') throw err;
        res
          .status(400)
          .type('html')
          .send(auditPage({ ...base, query: { limit: 50, order: 'desc' }, error: err.message }));
        return;
      }
      const page = await log.query(query);
      res.setHeader('cache-control', 'no-store');
      res.type('html').send(auditPage({ ...base, query, page }));
    }),
  );

  router.get(
    '/audit/:id',
    asyncHandler(async (req, res) => {
      const principal = await authenticate(deps, req);
      if (!principal) return res.redirect(302, loginRedirect(req.originalUrl, redirectPolicyOf(deps)));
      const event = await findEvent(principal, String(req.params.id));
      if (!event) throw notFound();
      res.setHeader('cache-control', 'no-store');
      res.type('html').send(auditEventPage({ demo: deps.demo, username: principal.identity.username, event }));
    }),
  );

  /** One event, if the caller may see it (a non-auditor's lookup is restricted to their own). */
  async function findEvent(principal: Principal, id: string) {
    if (!UUID.test(id)) return undefined;
    const query: AuditQuery = { id: id.toLowerCase(), limit: 1, order: 'desc' };
    if (!principal.access.auditRead) query.user = principal.identity.username;
    return (await log.query(query)).events[0];
  }

  /** Streams every match (or `limit` when given) with backpressure; stops when the client goes away. */
  async function streamExport(res: Response, query: AuditQuery, format: 'ndjson' | 'csv', limited: boolean) {
    const stamp = new Date().toISOString().replace(/[:.]/g, '-');
    if (format === 'csv') {
      res.type('text/csv; charset=utf-8');
      res.setHeader('content-disposition', `attachment; filename="audit-${stamp}.csv"`);
    } else {
      res.type('application/x-ndjson; charset=utf-8');
    }
    let gone = false;
    res.on('close', () => (gone = true));
    let buffer = format === 'csv' ? csvHeader() : '';
    let count = 0;
    const flush = async () => {
      if (!buffer || gone) return;
      const ok = res.write(buffer);
      buffer = '';
      if (!ok)
        await new Promise<void>((resolve) => {
          const done = () => {
            res.off('drain', done).off('close', done);
            resolve();
          };
          res.on('drain', done).on('close', done);
        });
    };
    try {
      for await (const { event } of log.scan(query)) {
        if (gone || (limited && count >= query.limit)) break;
        buffer += format === 'csv' ? csvRow(event) : `${JSON.stringify(event)}\n`;
        count++;
        if (buffer.length >= 64 * 1024) await flush();
      }
      await flush();
      res.end();
    } catch (err) {
      if (!res.headersSent) throw err;
      // A half-sent export must not look complete: cut the connection instead of ending cleanly.
      deps.logger.error({ err, requestId: res.locals.ctx?.requestId }, 'audit export failed mid-stream');
      res.destroy(err as Error);
    }
  }

  return router;
}
