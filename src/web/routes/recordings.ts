import { createReadStream, readFileSync } from 'node:fs';
import { readPageScript, serveAsset } from '../static-asset.js';
import { createRequire } from 'node:module';
import { Router, type Request, type Response } from 'express';
import { GatehouseError } from '../../core/errors.js';
import { isRecordingId } from '../../recording/ids.js';
import type { RecordingQuery, RecordingStore } from '../../recording/reader.js';
import type { RecordingMeta } from '../../recording/recorder.js';
import { loginRedirect } from '../../core/redirect-target.js';
import { redirectPolicyOf, type WebDeps } from '../deps.js';
import { asyncHandler, currentSession } from '../middleware.js';
import { requirePrincipal, type Principal } from '../principal.js';
import { recordingPage, recordingsPage } from '../views/recordings.js';

const require = createRequire(import.meta.url);
/** The player is served from node_modules: no CDN (CSP script-src 'self'). */
const PLAYER_JS = require.resolve('asciinema-player/dist/bundle/asciinema-player.min.js');
const PLAYER_CSS = require.resolve('asciinema-player/dist/bundle/asciinema-player.css');
/** The player's terminal emulator is WebAssembly: the player page allows compiling it, nothing else. */
const PLAYER_CSP =
  "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; base-uri 'self'; object-src 'none'";

function parseTime(value: unknown, endOfDay: boolean): number | undefined {
  if (typeof value !== 'string' || value === '') return undefined;
  const dateOnly = /^\d{4}-\d{2}-\d{2}$/.test(value);
  const ms = Date.parse(dateOnly ? `${value}T00:00:00Z` : value);
  if (Number.isNaN(ms)) throw new GatehouseError('invalid_request', `"${value}" is not a date or time (use YYYY-MM-DD or RFC 3339).`);
  return dateOnly && endOfDay ? ms + 86_400_000 - 1 : ms;
}

function queryFrom(req: Request, principal: Principal): RecordingQuery {
  const str = (v: unknown) => (typeof v === 'string' && v !== '' ? v.slice(0, 200) : undefined);
  const limit = Number(req.query.limit ?? 100);
  return {
    user: str(req.query.user),
    node: str(req.query.node),
    q: str(req.query.q),
    from: parseTime(req.query.from, false),
    to: parseTime(req.query.to, true),
    owner: principal.access.auditRead ? undefined : principal.identity.username,
    limit: Number.isInteger(limit) && limit > 0 ? Math.min(limit, 1000) : 100,
  };
}

/**
 * Recordings: `GET /api/v1/recordings` (search), `GET /api/v1/recordings/:id` (the .cast),
 * `/recordings` and `/recordings/:id` pages. Auditors (a role with `audit: read`) see every
 * recording; others only their own. Viewing and downloading emit `recording.access`.
 */
export function recordingRoutes(deps: WebDeps & { recordings?: RecordingStore }): Router {
  const router = Router();
  const store = deps.recordings;
  if (!store) return router;

  /** The recording, if this person may see it; audits every access and refusal. */
  async function authorised(req: Request, res: Response, principal: Principal, action: 'view' | 'download'): Promise<RecordingMeta> {
    const { identity, access } = principal;
    const id = String(req.params.id);
    const audit = (outcome: 'success' | 'failure', reason?: string) =>
      deps.audit.emit({
        type: 'recording.access',
        outcome,
        user: identity.username,
        connector: identity.connector,
        roles: access.roles,
        session_id: isRecordingId(id) ? id : undefined,
        reason,
        context: res.locals.ctx,
        details: { action, recording: isRecordingId(id) ? id : id.slice(0, 128) },
      });
    if (!isRecordingId(id)) {
      await audit('failure', 'invalid_recording_id');
      throw new GatehouseError('invalid_recording_id', 'A recording id is a session id (a UUID).', { status: 400 });
    }
    const meta = store!.get(id);
    // Someone else's recording looks the same as a missing one.
    if (!meta || (!access.auditRead && meta.user !== identity.username)) {
      await audit('failure', 'recording_not_found');
      throw new GatehouseError('recording_not_found', 'No such recording.', { status: 404 });
    }
    await audit('success');
    return meta;
  }

  router.get(
    '/api/v1/recordings',
    asyncHandler(async (req, res) => {
      const principal = await requirePrincipal(deps, req);
      const recordings = await store.list(queryFrom(req, principal));
      res.setHeader('cache-control', 'no-store');
      res.json({ recordings });
    }),
  );

  router.get(
    '/api/v1/recordings/:id',
    asyncHandler(async (req, res) => {
      const meta = await authorised(req, res, await requirePrincipal(deps, req), 'download');
      res.setHeader('cache-control', 'no-store');
      res.setHeader('content-disposition', `attachment; filename="${meta.id}.cast"`);
      res.type('application/x-asciicast');
      createReadStream(store.castPath(meta.id)!).pipe(res);
    }),
  );

  const pagePrincipal = async (req: Request, res: Response): Promise<Principal | null> => {
    const session = await currentSession(deps, req);
    if (!session) {
      res.redirect(302, loginRedirect(req.originalUrl, redirectPolicyOf(deps)));
      return null;
    }
    return requirePrincipal(deps, req);
  };

  router.get(
    '/recordings',
    asyncHandler(async (req, res) => {
      const principal = await pagePrincipal(req, res);
      if (!principal) return;
      const recordings = await store.list(queryFrom(req, principal));
      const query = Object.fromEntries(Object.entries(req.query).filter(([, v]) => typeof v === 'string')) as Record<string, string>;
      res.setHeader('cache-control', 'no-store');
      res.type('html').send(recordingsPage({ demo: deps.demo, user: principal.identity.username, recordings, query, all: principal.access.auditRead }));
    }),
  );

  router.get(
    '/recordings/:id',
    asyncHandler(async (req, res) => {
      const principal = await pagePrincipal(req, res);
      if (!principal) return;
      const meta = await authorised(req, res, principal, 'view');
      res.setHeader('cache-control', 'no-store');
      res.setHeader('content-security-policy', PLAYER_CSP);
      res.type('html').send(recordingPage({ demo: deps.demo, user: principal.identity.username, meta }));
    }),
  );

  serveAsset(router, '/static/asciinema-player.min.js', 'application/javascript', () => readFileSync(PLAYER_JS));
  serveAsset(router, '/static/asciinema-player.css', 'text/css', () => readFileSync(PLAYER_CSS));
  serveAsset(router, '/static/recording-player.js', 'application/javascript', () => readPageScript('recording-player.js'));
  return router;
}
