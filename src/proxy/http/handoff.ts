import type { IncomingMessage, ServerResponse } from 'node:http';
import { type AuditSink, bestEffort } from '../../audit/sink.js';
import { systemClock, type Clock } from '../../core/clock.js';
import { GatehouseError, isGatehouseError } from '../../core/errors.js';
import { randomId } from '../../core/ids.js';
import { redirectTarget } from '../../core/redirect-target.js';
import type { RequestContext } from '../../core/types.js';
import type { SessionManager } from '../../sessions/sessions.js';
import { setJson, takeJson, type Store } from '../../store/store.js';
import type { AppRegistry, HttpApp } from './apps.js';
import { appSessionKey, type AppSessionRecord, type IdentityEngine } from './identity.js';
import { redirect, sendError, wantsHtml, type ErrorPageRenderer } from './respond.js';

/**
 * The app-scoped session of a host-based app, set up by a short, state-bound hand-off (as Teleport
 * does), so the gateway session cookie never travels to an app's host:
 *
 * 1. app host, no app cookie: a random `state` is stored (10 min, take-once) with the URL asked for
 *    and a binding value that also goes into a per-state cookie on the app host; the browser is
 *    sent to the gateway's `/auth/app/authorize?app=&state=`.
 * 2. gateway: the state is taken; without a gateway session the browser goes to
 *    `/login?return_to=<the URL asked for>` and comes back to step 1. With one, the role check
 *    runs (403 page when it fails), and a one-time code (60 s, take-once) bound to the state, the
 *    binding and the gateway session is handed to `<app host>/.gatehouse/callback?code=&state=`.
 * 3. app host: the code is taken; it must name this app and this state, the browser must hold
 *    the state's binding cookie, and the gateway session must still be live. Then an app session
 *    (an opaque id mapped to the gateway session, ending with it) is set as an HttpOnly cookie on
 *    the app host, and the browser returns to the URL it asked for.
 *
 * A stolen code is useless without the browser's binding cookie; a replayed one is already taken.
 */

export const APP_SESSION_COOKIE = 'gatehouse_app_session';
const STATE_TTL_SECONDS = 600;
const CODE_TTL_SECONDS = 60;
const TOKEN = /^[A-Za-z0-9_-]{43}$/;
const stateKey = (state: string) => `app-handoff:state:${state}`;
const codeKey = (code: string) => `app-handoff:code:${code}`;
const stateCookie = (state: string) => `gatehouse_app_state_${state.slice(0, 16)}`;

interface StateRecord {
  app: string;
  returnTo: string;
  binding: string;
}
interface CodeRecord extends StateRecord {
  state: string;
  sessionId: string;
}

/** What the hand-off needs of the cookie policy (structurally the web layer's CookiePolicy). */
export interface CookieJar {
  secure: boolean;
  set(res: ServerResponse, base: string, value: string, options?: { maxAgeSeconds?: number }): void;
  clear(res: ServerResponse, base: string): void;
  read(req: IncomingMessage, base: string): string | undefined;
}

export interface HandoffDeps {
  publicUrl: string;
  registry: AppRegistry;
  store: Store;
  sessions: SessionManager;
  engine: IdentityEngine;
  audit: AuditSink;
  cookies: CookieJar;
  sessionCookie: string;
  page: ErrorPageRenderer;
  context(req: IncomingMessage): RequestContext;
  logger: { error(obj: object, msg: string): void };
  clock?: Clock;
}

export interface Handoff {
  /** Step 1, on the app host: remember where the browser wanted to go, send it to the gateway. */
  begin(req: IncomingMessage, res: ServerResponse, app: HttpApp, returnPath: string): Promise<void>;
  /** Step 2, on the gateway: `/auth/app/authorize`. */
  authorize(req: IncomingMessage, res: ServerResponse, query: URLSearchParams): Promise<void>;
  /** `/.gatehouse/*` on an app host: start (?rd=), callback, logout. */
  appEndpoint(req: IncomingMessage, res: ServerResponse, app: HttpApp, path: string, query: URLSearchParams): Promise<void>;
}

const invalid = (why: string) =>
  new GatehouseError('app_handoff_invalid', `Signing in to the app could not be completed: ${why}. Please open the app again.`, { status: 400 });

export function createHandoff(deps: HandoffDeps): Handoff {
  const scheme = new URL(deps.publicUrl).protocol;
  const clock = deps.clock ?? systemClock;

  const fail = async (req: IncomingMessage, res: ServerResponse, err: unknown, app?: HttpApp) => {
    const ctx = deps.context(req);
    const known = isGatehouseError(err) ? err : undefined;
    if (!known || known.status >= 500) deps.logger.error({ err, requestId: ctx.requestId }, 'app sign-in failed');
    if (known?.code === 'app_handoff_invalid' || known?.code === 'return_to_rejected') {
      await bestEffort(
        deps.audit,
        deps.logger,
      )({ type: 'app.session.start', outcome: 'failure', reason: known.code, details: { app: app?.name }, context: ctx });
    }
    sendError(req, res, deps.page, {
      status: known?.status ?? 500,
      code: known?.code ?? 'internal_error',
      message: known?.expose ? known.message : 'Internal server error. The operators can find details in the logs.',
      requestId: ctx.requestId,
    });
  };

  /** The app's own origin, as the browser reached it (the host was matched to this app by the registry). */
  const appOrigin = (req: IncomingMessage) => `${scheme}//${req.headers.host}`;

  const begin: Handoff['begin'] = async (req, res, app, returnPath) => {
    if (!wantsHtml(req) || (req.method !== 'GET' && req.method !== 'HEAD')) {
      return sendError(req, res, deps.page, { status: 401, code: 'unauthenticated', message: `Sign in to use ${app.name}.` });
    }
    // The raw request target (`//host/x`, `/\host`, `/..//host`) or `rd`: a path on this app's host only.
    let path: string;
    try {
      path = redirectTarget(returnPath, { base: appOrigin(req) }, { what: 'The address' });
    } catch (err) {
      return fail(req, res, err, app);
    }
    const state = randomId(32);
    const binding = randomId(32);
    const returnTo = new URL(path, appOrigin(req)).href;
    await setJson(deps.store, stateKey(state), { app: app.name, returnTo, binding } satisfies StateRecord, STATE_TTL_SECONDS);
    deps.cookies.set(res, stateCookie(state), binding, { maxAgeSeconds: STATE_TTL_SECONDS });
    const query = new URLSearchParams({ app: app.name, state });
    redirect(res, `${deps.publicUrl}/auth/app/authorize?${query}`);
  };

  const authorize: Handoff['authorize'] = async (req, res, query) => {
    const app = deps.registry.byName.get(query.get('app') ?? '');
    try {
      if (!app?.publicHost) throw new GatehouseError('unknown_app', 'There is no app with that name on its own host.', { status: 404 });
      const state = query.get('state') ?? '';
      const record = TOKEN.test(state) ? await takeJson<StateRecord>(deps.store, stateKey(state)) : null;
      if (!record || record.app !== app.name) throw invalid('this sign-in is unknown, expired or was already used');
      const sessionId = deps.cookies.read(req, deps.sessionCookie);
      const session = sessionId ? await deps.sessions.get(sessionId) : null;
      if (!session) return redirect(res, `${deps.publicUrl}/login?return_to=${encodeURIComponent(record.returnTo)}`);
      const decision = await deps.engine.decide({ kind: 'session', id: session.id }, app, { context: deps.context(req) });
      if (!decision) return redirect(res, `${deps.publicUrl}/login?return_to=${encodeURIComponent(record.returnTo)}`);
      if (!decision.allowed) {
        return sendError(req, res, deps.page, {
          status: 403,
          code: 'access_denied',
          message: `You do not have access to the app "${app.name}".`,
          requestId: deps.context(req).requestId,
        });
      }
      const code = randomId(32);
      await setJson(deps.store, codeKey(code), { ...record, state, sessionId: session.id } satisfies CodeRecord, CODE_TTL_SECONDS);
      // The code goes only to the app's configured host (the port is the one the browser used).
      const target = new URL(record.returnTo);
      if (target.hostname !== app.publicHost || target.username || target.password) throw invalid('this sign-in names another host');
      const callback = new URL(`${target.protocol}//${app.publicHost}${target.port ? `:${target.port}` : ''}/.gatehouse/callback`);
      callback.search = new URLSearchParams({ code, state }).toString();
      redirect(res, callback.href);
    } catch (err) {
      await fail(req, res, err, app);
    }
  };

  const callback = async (req: IncomingMessage, res: ServerResponse, app: HttpApp, query: URLSearchParams) => {
    const code = query.get('code') ?? '';
    const state = query.get('state') ?? '';
    const record = TOKEN.test(code) ? await takeJson<CodeRecord>(deps.store, codeKey(code)) : null;
    // Clear this sign-in's binding cookie and any left by abandoned ones, so none lingers on the app host.
    for (const name of (req.headers.cookie ?? '').matchAll(/(?:^|;\s*)(?:__Host-)?(gatehouse_app_state_[A-Za-z0-9_-]{16})=/g)) deps.cookies.clear(res, name[1]);
    if (!record) throw invalid('this sign-in code is unknown, expired or was already used');
    if (record.app !== app.name || record.state !== state) throw invalid('this sign-in code was issued for another app or sign-in');
    if (deps.cookies.read(req, stateCookie(state)) !== record.binding) throw invalid('this sign-in was started in another browser');
    const returnTo = new URL(record.returnTo);
    if (returnTo.host !== req.headers.host) throw invalid('this sign-in was started on another host');
    const target = redirectTarget(returnTo.pathname + returnTo.search, { base: appOrigin(req) }, { what: 'The address' });
    const session = await deps.sessions.get(record.sessionId);
    if (!session) throw invalid('your Gatehouse session has ended');
    const id = randomId(32);
    const ttl = Math.max(1, Math.floor((session.expiresAt - clock.now()) / 1000));
    await setJson(deps.store, appSessionKey(id), { app: app.name, sessionId: session.id } satisfies AppSessionRecord, ttl);
    deps.cookies.set(res, APP_SESSION_COOKIE, id, { maxAgeSeconds: ttl });
    redirect(res, target);
  };

  const appEndpoint: Handoff['appEndpoint'] = async (req, res, app, path, query) => {
    try {
      if (path === '/.gatehouse/callback') return await callback(req, res, app, query);
      if (path === '/.gatehouse/start') {
        const rd = query.get('rd') ?? '/';
        // A path on this host only: checked by the shared redirect-target function (absolute URLs refused too).
        if (!rd.startsWith('/')) throw new GatehouseError('return_to_rejected', 'rd must be a path on this host.', { status: 400 });
        return await begin(req, res, app, rd);
      }
      if (path === '/.gatehouse/logout') {
        const id = deps.cookies.read(req, APP_SESSION_COOKIE);
        if (id && TOKEN.test(id)) {
          await deps.store.delete(appSessionKey(id));
          // This replica's cached decision would otherwise honour the cookie for up to DECISION_TTL_MS.
          deps.engine.forget({ kind: 'app-session', id, app: app.name });
        }
        deps.cookies.clear(res, APP_SESSION_COOKIE);
        return redirect(res, `${deps.publicUrl}/logout`);
      }
      sendError(req, res, deps.page, { status: 404, code: 'not_found', message: 'Nothing here.' });
    } catch (err) {
      await fail(req, res, err, app);
    }
  };

  return { begin, authorize, appEndpoint };
}
