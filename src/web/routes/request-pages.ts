/**
 * The `/requests` pages, server-rendered, no scripts: ask for access, review, withdraw or end.
 *
 * - `GET /requests`: the request form (what this person may request), requests waiting for their
 *   review, their own requests, and the others they may see.
 * - `GET /requests/:id`: one request (the link notifications send).
 * - `POST /requests`, `POST /requests/:id/review`, `POST /requests/:id/drop`: forms carrying the
 *   session's CSRF token (a failure is a 403 `csrf_failed`, audited by the error handler). They
 *   call the same service as the API (src/requests/service.ts), which audits every decision and
 *   refusal; a refusal is shown on the page with its status, a success redirects (303) back.
 */
import express, { Router, type Request, type Response } from 'express';
import { resolveAccess } from '../../access/index.js';
import { parseDuration } from '../../core/duration.js';
import { GatehouseError, isGatehouseError } from '../../core/errors.js';
import { loginRedirect } from '../../core/redirect-target.js';
import type { Session } from '../../core/types.js';
import type { Actor, RequestView } from '../../requests/index.js';
import { personOf, samePerson } from '../../requests/model.js';
import { checkCsrf, csrfToken } from '../csrf.js';
import { redirectPolicyOf, type WebDeps } from '../deps.js';
import { asyncHandler, currentSession } from '../middleware.js';
import { requestPage, requestsPage } from '../views/requests.js';

/** How many of the others' requests "Recent decisions" lists. */
const RECENT = 20;

type Back = 'list' | 'detail';
type Shown = { code: string; message: string };

const field = (value: unknown): string => (typeof value === 'string' ? value : '');
const fields = (value: unknown): string[] => (Array.isArray(value) ? value.filter((v) => typeof v === 'string') : typeof value === 'string' ? [value] : []);

/** A refusal the person can act on (a bad field, a rule of the request): shown on the page, not as an error page. */
const shownOnPage = (err: unknown): err is GatehouseError => isGatehouseError(err) && err.status < 500 && err.code !== 'csrf_failed';

function formDuration(value: string): number | undefined {
  if (!value) return undefined;
  try {
    return parseDuration(value);
  } catch (err) {
    throw new GatehouseError('invalid_request', `duration: ${(err as Error).message}`);
  }
}

export function requestPageRoutes(deps: WebDeps): Router {
  const router = Router();
  const service = deps.requests;
  if (!service) return router;
  const publicUrl = deps.config.server.public_url;
  const urlencoded = express.urlencoded({ extended: false, limit: '8kb' });

  const actorOf = (session: Session, res: Response): Actor => ({
    identity: session.identity,
    access: resolveAccess(session.identity, deps.policy),
    context: res.locals.ctx,
  });
  /** Roles from mappings alone (who may revoke is decided on those, as the service does). */
  const baseRoles = (session: Session) => resolveAccess(session.identity, { ...deps.policy, requestGrants: undefined }).roles;
  const page = (session: Session) => ({ demo: deps.demo, user: session.identity.username, csrf: csrfToken(session.id), baseRoles: baseRoles(session) });

  /** The session, or a redirect to sign in and come back to `page` (a GET page, also for a POST). */
  async function signedIn(req: Request, res: Response, back: string): Promise<Session | null> {
    const session = await currentSession(deps, req);
    if (!session) res.redirect(req.method === 'GET' ? 302 : 303, loginRedirect(back, redirectPolicyOf(deps)));
    return session;
  }

  /** A form about one request: its id, the page to go back to, the session (else a redirect to sign in), its CSRF token checked. */
  async function formFor(req: Request, res: Response): Promise<{ id: string; back: Back; session: Session } | null> {
    const id = String(req.params.id);
    const back = backOf(req);
    const session = await signedIn(req, res, back === 'detail' ? `/requests/${encodeURIComponent(id)}` : '/requests');
    if (!session) return null;
    checkCsrf(req, session.id, publicUrl);
    return { id, back, session };
  }

  async function sendList(
    session: Session,
    res: Response,
    extra: { done?: string; error?: Shown; form?: { roles: string[]; reason: string; duration: string } } = {},
    status = 200,
  ) {
    const actor = actorOf(session, res);
    const me = personOf(session.identity);
    const all = await service!.list(actor);
    const mine = all.filter((r) => samePerson(me, r.requester));
    const toReview = all.filter((r) => r.can_review);
    const others = all.filter((r) => !samePerson(me, r.requester) && !r.can_review).slice(0, RECENT);
    res.setHeader('cache-control', 'no-store');
    res
      .status(status)
      .type('html')
      .send(requestsPage({ ...page(session), ...extra, options: service!.options(session.identity), toReview, mine, others }));
  }

  async function sendDetail(session: Session, res: Response, request: RequestView, extra: { done?: string; error?: Shown } = {}, status = 200) {
    res.setHeader('cache-control', 'no-store');
    res
      .status(status)
      .type('html')
      .send(requestPage({ ...page(session), ...extra, request, own: samePerson(personOf(session.identity), request.requester) }));
  }

  /** After a refused review or drop: the page the form was on, with the refusal and its status. */
  async function sendRefusal(session: Session, res: Response, id: string, back: Back, err: GatehouseError) {
    const error = { code: err.code, message: err.message };
    if (back === 'detail') {
      const request = await service!.get(actorOf(session, res), id).catch(() => undefined);
      if (request) return sendDetail(session, res, request, { error }, err.status);
    }
    return sendList(session, res, { error }, err.status);
  }

  const backTo = (id: string, back: Back, done: string) => `${back === 'detail' ? `/requests/${encodeURIComponent(id)}` : '/requests'}?done=${done}`;
  const backOf = (req: Request): Back => (req.body?.back === 'detail' ? 'detail' : 'list');

  router.get(
    '/requests',
    asyncHandler(async (req, res) => {
      const session = await signedIn(req, res, req.originalUrl);
      if (session) await sendList(session, res, { done: field(req.query.done) });
    }),
  );

  router.get(
    '/requests/:id',
    asyncHandler(async (req, res) => {
      const session = await signedIn(req, res, req.originalUrl);
      if (!session) return;
      // Not found (or not the viewer's to see) is the error page's 404.
      const request = await service.get(actorOf(session, res), String(req.params.id));
      await sendDetail(session, res, request, { done: field(req.query.done) });
    }),
  );

  router.post(
    '/requests',
    urlencoded,
    asyncHandler(async (req, res) => {
      const session = await signedIn(req, res, '/requests');
      if (!session) return;
      checkCsrf(req, session.id, publicUrl);
      const submitted = { roles: fields(req.body?.roles), reason: field(req.body?.reason), duration: field(req.body?.duration) };
      try {
        const duration_ms = formDuration(submitted.duration);
        const created = await service.create(actorOf(session, res), { roles: submitted.roles, reason: submitted.reason, duration_ms });
        res.redirect(303, `/requests?done=requested#request-${created.id}`);
      } catch (err) {
        if (!shownOnPage(err)) throw err;
        await sendList(session, res, { error: { code: err.code, message: err.message }, form: submitted }, err.status);
      }
    }),
  );

  router.post(
    '/requests/:id/review',
    urlencoded,
    asyncHandler(async (req, res) => {
      const posted = await formFor(req, res);
      if (!posted) return;
      const { id, back, session } = posted;
      const decision = field(req.body?.decision);
      try {
        if (decision !== 'approve' && decision !== 'deny') throw new GatehouseError('invalid_request', 'decision: choose approve or deny.');
        const comment = field(req.body?.comment).slice(0, 1000) || undefined;
        const reviewed = await service.review(actorOf(session, res), id, { decision, comment });
        const done = reviewed.state === 'active' ? 'activated' : reviewed.state === 'denied' ? 'denied' : 'approved';
        res.redirect(303, backTo(id, back, done));
      } catch (err) {
        if (!shownOnPage(err)) throw err;
        await sendRefusal(session, res, id, back, err);
      }
    }),
  );

  router.post(
    '/requests/:id/drop',
    urlencoded,
    asyncHandler(async (req, res) => {
      const posted = await formFor(req, res);
      if (!posted) return;
      const { id, back, session } = posted;
      try {
        const dropped = await service.drop(actorOf(session, res), id);
        const own = samePerson(personOf(session.identity), dropped.requester);
        res.redirect(303, backTo(id, back, !own ? 'revoked' : dropped.activated_at ? 'ended' : 'withdrawn'));
      } catch (err) {
        if (!shownOnPage(err)) throw err;
        await sendRefusal(session, res, id, back, err);
      }
    }),
  );

  return router;
}
