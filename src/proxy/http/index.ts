import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Policy } from '../../access/index.js';
import { type AuditSink, bestEffort } from '../../audit/sink.js';
import type { Config } from '../../config/schema.js';
import type { Clock } from '../../core/clock.js';
import { isGatehouseError } from '../../core/errors.js';
import type { RequestContext } from '../../core/types.js';
import type { SessionManager } from '../../sessions/sessions.js';
import type { Store } from '../../store/store.js';
import type { TokenIssuer } from '../../tokens/issuer.js';
import { createAppRegistry, type AppRegistry, type HttpApp } from './apps.js';
import { createCredentialChain, lazyContext } from './credentials.js';
import { createForwardAuth } from './forward-auth.js';
import { createForwarder, type ForwardFailure } from './forward.js';
import { createHandoff, type CookieJar } from './handoff.js';
import { createIdentityEngine, type Decision } from './identity.js';
import { originForm } from './origin-form.js';
import { createRequestAudit } from './request-audit.js';
import { redirect, sendError, wantsHtml, type ErrorPageRenderer } from './respond.js';
import { createUpstreamTargets } from './target.js';
import { createAppUpgrade } from './upgrade.js';
import type { RequestBoundSessions } from '../../requests/bound-sessions.js';
import { createUpstreamHealth } from './upstream-health.js';

/**
 * HTTP application access, dispatched at the http.Server before Express (the data path must not
 * pay for its router): host-based and path-based apps, the host apps' sign-in hand-off
 * (`/auth/app/authorize`, `/.gatehouse/*`), and forward-auth at `/auth/verify`.
 */
export interface HttpApps {
  registry: AppRegistry;
  /** Serves the request when it belongs to an app or forward-auth; false hands it to the web app. */
  handle(req: IncomingMessage, res: ServerResponse): boolean;
  /** Same for an HTTP upgrade (WebSocket); false when no app takes it. */
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): boolean;
  /** Ends open app WebSockets: a server's graceful close leaves upgraded sockets alone. */
  endUpgrades(): void;
  close(): Promise<void>;
}

export interface HttpAppsDeps {
  config: Config;
  store: Store;
  /** Sessions, whose ends drop cached decisions at once. */
  sessions: SessionManager;
  audit: AuditSink;
  issuer: TokenIssuer;
  policy: Policy;
  cookies: CookieJar;
  /** Name of the gateway session cookie (before any __Host- prefix). */
  sessionCookie: string;
  page: ErrorPageRenderer;
  context(req: IncomingMessage): RequestContext;
  logger: { warn(obj: object, msg: string): void; error(obj: object, msg: string): void };
  /** Called when a proxied response ends (metrics). */
  observe?(app: string, status: number, seconds: number): void;
  /** Session and expiry time (tests move it). */
  clock?: Clock;
  /** App WebSockets opened under access requests end when those requests do. */
  requestSessions?: RequestBoundSessions;
}

export function createHttpApps(deps: HttpAppsDeps): HttpApps {
  const { config, cookies } = deps;
  const registry = createAppRegistry(config);
  const engine = createIdentityEngine({
    sessions: deps.sessions,
    store: deps.store,
    audit: deps.audit,
    issuer: deps.issuer,
    policy: deps.policy,
    clock: deps.clock,
  });
  const forwarder = createForwarder(registry.apps);
  const health = createUpstreamHealth(deps.audit, deps.logger);
  const emit = bestEffort(deps.audit, deps.logger);
  const handoff = createHandoff({
    publicUrl: config.server.public_url,
    registry,
    store: deps.store,
    sessions: deps.sessions,
    engine,
    audit: deps.audit,
    cookies,
    sessionCookie: deps.sessionCookie,
    page: deps.page,
    context: deps.context,
    logger: deps.logger,
    clock: deps.clock,
  });
  const chain = createCredentialChain({ cookies, sessionCookie: deps.sessionCookie, engine });
  const { credentialsFor, decide } = chain;
  const targetFor = createUpstreamTargets({
    publicUrl: config.server.public_url,
    trustProxyHops: config.server.trust_proxy_hops,
    issuerUrl: deps.issuer.issuer,
  });
  const auditRequest = createRequestAudit(emit, deps.context);

  const forwardAuth = createForwardAuth({
    registry,
    credentials: (req, appName) => credentialsFor(req, appName ? registry.byName.get(appName) : undefined, true),
    decide: (credentials, appName, ctx) => decide(credentials, appName ? registry.byName.get(appName) : undefined, ctx),
    context: deps.context,
    logger: deps.logger,
    publicUrl: config.server.public_url,
    emit,
  });

  const failInternal = (req: IncomingMessage, res: ServerResponse, err: unknown) => {
    const known = isGatehouseError(err) && err.status === 503 ? err : undefined;
    const requestId = deps.context(req).requestId;
    if (!known) deps.logger.error({ err, requestId }, 'app request failed');
    sendError(req, res, deps.page, {
      status: known ? 503 : 500,
      code: known?.code ?? 'internal_error',
      message: known?.message ?? 'Internal server error. The operators can find details in the logs.',
      requestId,
    });
  };

  const proxy = (req: IncomingMessage, res: ServerResponse, app: HttpApp, decision: Decision) => {
    if (app.config.audit_requests) auditRequest(req, res, app, decision);
    if (deps.observe) {
      const started = process.hrtime.bigint();
      res.once('close', () => deps.observe!(app.name, res.statusCode, Number(process.hrtime.bigint() - started) / 1e9));
    }
    forwarder.http(req, res, targetFor(req, app, decision, false), {
      onFailure: (kind, err) => upstreamFailed(req, res, app, decision, kind, err),
      onResponse: () => health.answered(app.name),
    });
  };

  const upstreamFailed = (req: IncomingMessage, res: ServerResponse, app: HttpApp, decision: Decision, kind: ForwardFailure, err: Error) => {
    const context = deps.context(req);
    const requestId = context.requestId;
    deps.logger.warn({ app: app.name, err: err.message, requestId }, 'app upstream failed');
    health.failed(app.name, kind, err, { user: decision.viewer.identity.username, context });
    sendError(req, res, deps.page, {
      status: kind === 'timeout' ? 504 : 502,
      code: kind === 'timeout' ? 'app_timeout' : 'app_unavailable',
      message: kind === 'timeout' ? `The app "${app.name}" did not answer in time.` : `The app "${app.name}" is not reachable right now. Try again shortly.`,
      requestId,
    });
  };

  const denied = (req: IncomingMessage, res: ServerResponse, app: HttpApp) =>
    sendError(req, res, deps.page, {
      status: 403,
      code: 'access_denied',
      message: `You do not have access to the app "${app.name}". Ask for one of the roles it requires${app.config.roles.length ? `: ${app.config.roles.join(', ')}` : ''}.`,
      requestId: deps.context(req).requestId,
    });

  const unauthenticated = (req: IncomingMessage, res: ServerResponse, app: HttpApp) => {
    if (app.publicHost) return handoff.begin(req, res, app, req.url ?? '/').catch((err) => failInternal(req, res, err));
    if (wantsHtml(req) && (req.method === 'GET' || req.method === 'HEAD')) {
      return redirect(res, `/login?return_to=${encodeURIComponent(req.url ?? '/')}`);
    }
    sendError(req, res, deps.page, { status: 401, code: 'unauthenticated', message: `Sign in to use ${app.name}.` });
  };

  const serveApp = (req: IncomingMessage, res: ServerResponse, app: HttpApp) => {
    const credentials = credentialsFor(req, app, !app.publicHost);
    const result = decide(credentials, app, lazyContext(req, deps.context));
    const go = (decision: Decision | null) => {
      if (!decision) return void unauthenticated(req, res, app);
      if (!decision.allowed) return denied(req, res, app);
      proxy(req, res, app, decision);
    };
    if (result instanceof Promise) result.then(go, (err) => failInternal(req, res, err));
    else go(result);
  };

  const handle = (req: IncomingMessage, res: ServerResponse): boolean => {
    const target = originForm(req);
    if (target !== 'ok') {
      if (target === 'asterisk') {
        // `OPTIONS *` asks about the server: the gateway answers, no upstream is asked (or blamed).
        res.writeHead(204, { allow: 'GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS', 'content-length': 0 });
        res.end();
      } else sendError(req, res, deps.page, { status: 400, code: 'invalid_request_target', message: 'The request target must be a path (origin-form).' });
      return true;
    }
    const url = req.url ?? '/';
    const hostApp = registry.byHost(req.headers.host);
    if (hostApp) {
      const q = url.indexOf('?');
      const path = q === -1 ? url : url.slice(0, q);
      if (path.startsWith('/.gatehouse/')) {
        void handoff.appEndpoint(req, res, hostApp, path, new URLSearchParams(q === -1 ? '' : url.slice(q + 1)));
      } else if (!hostApp.upstream) {
        // Forward-auth only: the proxy in front sends /auth/verify and signs-in here.
        if (path === '/auth/verify') forwardAuth(req, res, new URLSearchParams(q === -1 ? '' : url.slice(q + 1)));
        else void handoff.begin(req, res, hostApp, url).catch((err) => failInternal(req, res, err));
      } else {
        serveApp(req, res, hostApp);
      }
      return true;
    }
    if (url.startsWith('/auth/')) {
      const q = url.indexOf('?');
      const path = q === -1 ? url : url.slice(0, q);
      const query = () => new URLSearchParams(q === -1 ? '' : url.slice(q + 1));
      if (path === '/auth/verify') {
        forwardAuth(req, res, query());
        return true;
      }
      if (path === '/auth/app/authorize') {
        void handoff.authorize(req, res, query());
        return true;
      }
      return false;
    }
    const pathApp = registry.byPath(url);
    if (!pathApp) return false;
    if (!url.startsWith(pathApp.path!)) {
      // `/apps/wiki` → `/apps/wiki/`, so relative links in the app resolve under its prefix.
      redirect(res, pathApp.path! + url.slice(pathApp.path!.length - 1));
      return true;
    }
    serveApp(req, res, pathApp);
    return true;
  };

  const upgrades = createAppUpgrade({
    registry,
    chain,
    forwarder,
    targetFor,
    health,
    emit,
    context: deps.context,
    logger: deps.logger,
    requestSessions: deps.requestSessions,
  });

  return {
    registry,
    handle,
    upgrade: upgrades.handle,
    endUpgrades: upgrades.endAll,
    async close() {
      forwarder.close();
      await engine.close();
    },
  };
}
