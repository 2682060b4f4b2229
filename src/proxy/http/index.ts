import type { IncomingMessage, ServerResponse } from 'node:http';
import { parseBearer } from '../../tokens/gateway-token.js';
import type { Duplex } from 'node:stream';
import type { Policy } from '../../access/index.js';
import { type AuditSink, bestEffort } from '../../audit/sink.js';
import type { Config } from '../../config/schema.js';
import { isGatehouseError } from '../../core/errors.js';
import type { RequestContext } from '../../core/types.js';
import type { SessionManager } from '../../sessions/sessions.js';
import type { Store } from '../../store/store.js';
import type { TokenIssuer } from '../../tokens/issuer.js';
import { createAppRegistry, type AppRegistry, type HttpApp } from './apps.js';
import { createForwardAuth } from './forward-auth.js';
import { createForwarder, type ForwardFailure, type ForwardTarget } from './forward.js';
import { APP_SESSION_COOKIE, createHandoff, type CookieJar } from './handoff.js';
import { isGatewayAuthorization, upstreamRequestHeaders } from './headers.js';
import { createUpstreamHealth } from './upstream-health.js';
import { createIdentityEngine, type Credential, type Decision, type DecisionContext } from './identity.js';
import { sendRawError } from '../upgrade-response.js';
import { redirect, sendError, wantsHtml, type ErrorPageRenderer } from './respond.js';

export { createAppRegistry } from './apps.js';

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
  /** Wraps the session manager so a logout drops cached decisions at once. */
  watchSessions(sessions: SessionManager): SessionManager;
  close(): Promise<void>;
}

export interface HttpAppsDeps {
  config: Config;
  store: Store;
  /** Looked up lazily, so the web layer can be handed watchSessions(sessions). */
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
}


export function createHttpApps(deps: HttpAppsDeps): HttpApps {
  const { config, cookies } = deps;
  const registry = createAppRegistry(config);
  const issuerUrl = deps.issuer.issuer;
  const proto = new URL(config.server.public_url).protocol.slice(0, -1);
  const trustHops = config.server.trust_proxy_hops;
  const engine = createIdentityEngine({ sessions: deps.sessions, store: deps.store, audit: deps.audit, issuer: deps.issuer, policy: deps.policy, logger: deps.logger });
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
  });

  /** Credentials in the order they are tried: the cookie that fits the place, then a gateway token. */
  const credentialsFor = (req: IncomingMessage, app: HttpApp | undefined, allowGatewayCookie: boolean): Credential[] => {
    const out: Credential[] = [];
    if (allowGatewayCookie) {
      const id = cookies.read(req, deps.sessionCookie);
      if (id) out.push({ kind: 'session', id });
    }
    if (app?.publicHost) {
      const id = cookies.read(req, APP_SESSION_COOKIE);
      if (id) out.push({ kind: 'app-session', id, app: app.name });
    }
    const bearer = parseBearer(req.headers.authorization);
    if (bearer) out.push({ kind: 'bearer', token: bearer });
    return out;
  };

  /**
   * The first credential, in order, that resolves: a valid cookie always wins over a gateway token,
   * whatever is cached. A credential is skipped without I/O only when it is cached as invalid.
   * Synchronous when every step is cached.
   */
  const decide = (credentials: Credential[], app: HttpApp | undefined, ctx: DecisionContext): Decision | Promise<Decision | null> | null => {
    for (let i = 0; i < credentials.length; i++) {
      const hit = engine.peek(credentials[i], app, ctx.allowedGroups);
      if (hit) return hit;
      if (engine.rejected(credentials[i])) continue;
      return (async () => {
        for (const credential of credentials.slice(i)) {
          const decision = await engine.decide(credential, app, ctx);
          if (decision) return decision;
        }
        return null;
      })();
    }
    return null;
  };

  const lazyContext = (req: IncomingMessage): DecisionContext => {
    let ctx: RequestContext | undefined;
    return {
      get context() {
        return (ctx ??= deps.context(req));
      },
    };
  };

  const forwardAuth = createForwardAuth({
    registry,
    credentials: (req, appName) => credentialsFor(req, appName ? registry.byName.get(appName) : undefined, true),
    decide: (credentials, appName, ctx) => decide(credentials, appName ? registry.byName.get(appName) : undefined, ctx),
    context: deps.context,
    logger: deps.logger,
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

  /** What the upstream gets: path (prefix stripped when asked), headers, and how redirects come back. */
  const targetFor = (req: IncomingMessage, app: HttpApp, decision: Decision, upgrade: boolean): ForwardTarget => {
    const url = req.url ?? '/';
    const up = app.upstream!;
    const strip = app.path && app.config.strip_prefix;
    const path = strip ? `/${url.slice(app.path!.length)}` : url;
    const rewriteHost = app.config.rewrite.host;
    // Never the client's Host: the public host comes from config (a path app's Host is anything a client typed).
    const host = rewriteHost === 'upstream' ? up.host : rewriteHost === 'preserve' ? app.forwardedHost : rewriteHost;
    const remote = req.socket.remoteAddress ?? '';
    const xff = req.headers['x-forwarded-for'];
    const origin = app.origin;
    return {
      app,
      path,
      headers: upstreamRequestHeaders(req.headers, {
        identity: decision.headers,
        configured: app.configuredHeaders,
        host,
        forwardedFor: trustHops > 0 && xff ? `${xff}, ${remote}` : remote,
        forwardedHost: app.forwardedHost,
        forwardedProto: proto,
        forwardedPrefix: app.path,
        upgrade,
        // A Gatehouse token never travels on, even when a cookie was the credential that won.
        dropAuthorization: decision.viewer.bearer || isGatewayAuthorization(req.headers.authorization, issuerUrl),
      }),
      sandbox: app.sandboxed,
      rewriteLocation: app.config.rewrite.redirects
        ? (location) => rewriteLocation(location, { upstream: up, sentHost: host, origin, prefix: strip ? app.path : undefined })
        : undefined,
    };
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

  /** One `app.request` per request when the app asks for it: written once the response is done. */
  const auditRequest = (req: IncomingMessage, res: ServerResponse, app: HttpApp, decision: Decision) => {
    const started = Date.now();
    const { method, url } = req;
    // Taken now: once the response is done, the request may no longer hold its socket.
    const context = deps.context(req);
    res.once('close', () => {
      const complete = res.writableFinished;
      void emit({
          type: 'app.request',
          outcome: complete && res.statusCode < 500 ? 'success' : 'failure',
          user: decision.viewer.identity.username,
          connector: decision.viewer.identity.connector,
          session_id: decision.viewer.sessionRef,
          reason: complete ? (res.statusCode >= 500 ? 'upstream_error' : undefined) : 'aborted',
          details: { app: app.name, method, path: url?.slice(0, 1024), status: res.statusCode, duration_ms: Date.now() - started },
          context,
        });
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
    const result = decide(credentials, app, lazyContext(req));
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

  const upgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): boolean => {
    if (originForm(req) !== 'ok') {
      sendRawError(socket, 400, 'invalid_request_target', 'The request target must be a path (origin-form).');
      return true;
    }
    const url = req.url ?? '/';
    const app = registry.byHost(req.headers.host) ?? registry.byPath(url);
    if (!app?.upstream || (app.path && !url.startsWith(app.path))) return false;
    // Cross-site WebSocket hijacking: a page elsewhere must not open a socket with our cookies.
    // The full origin (scheme, host, port) must be the app's own: http://app is not https://app.
    const origin = req.headers.origin;
    if (origin && safeOrigin(origin) !== app.origin) {
      sendRawError(socket, 403, 'origin_rejected', 'WebSocket connections are accepted only from the app itself.');
      void emit({ type: 'access.denied', outcome: 'failure', reason: 'origin_rejected', details: { app: app.name, via: 'app-websocket', origin: origin.slice(0, 256) }, context: deps.context(req) });
      return true;
    }
    const result = decide(credentialsFor(req, app, !app.publicHost), app, lazyContext(req));
    const go = (decision: Decision | null) => {
      if (!decision) return sendRawError(socket, 401, 'unauthenticated', `Sign in to use ${app.name}.`);
      if (!decision.allowed) return sendRawError(socket, 403, 'access_denied', `You do not have access to the app "${app.name}".`);
      forwarder.upgrade(req, socket, head, targetFor(req, app, decision, true), {
        onResponse: () => health.answered(app.name),
        onFailure: (kind, err) => {
          deps.logger.warn({ app: app.name, err: err.message }, 'app upstream failed (upgrade)');
          health.failed(app.name, kind, err, { user: decision.viewer.identity.username, context: deps.context(req) });
          sendRawError(socket, kind === 'timeout' ? 504 : 502, kind === 'timeout' ? 'app_timeout' : 'app_unavailable', `The app "${app.name}" is not reachable right now.`);
        },
      });
    };
    if (result instanceof Promise) {
      result.then(go, (err) => {
        deps.logger.error({ err }, 'app upgrade failed');
        sendRawError(socket, 500, 'internal_error', 'Internal server error.');
      });
    } else go(result);
    return true;
  };

  return {
    registry,
    handle,
    upgrade,
    watchSessions: (sessions) => engine.watch(sessions),
    async close() {
      forwarder.close();
      await engine.close();
    },
  };
}

function safeOrigin(origin: string): string | undefined {
  try {
    return new URL(origin).origin;
  } catch {
    return undefined;
  }
}

/**
 * Reduces an absolute-form target (`GET http://host/x`, RFC 9112 §3.2.2) to origin-form before
 * anything routes on it: the Host becomes the target's authority (the RFC says to ignore the Host
 * header then), and the path is what goes upstream. `*` (OPTIONS) and anything else that is not a
 * path are reported, never forwarded.
 */
function originForm(req: IncomingMessage): 'ok' | 'asterisk' | 'invalid' {
  const url = req.url ?? '/';
  if (url.startsWith('/')) return 'ok';
  if (url === '*') return req.method === 'OPTIONS' ? 'asterisk' : 'invalid';
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return 'invalid';
  }
  if ((parsed.protocol !== 'http:' && parsed.protocol !== 'https:' && parsed.protocol !== 'ws:' && parsed.protocol !== 'wss:') || parsed.username || parsed.password || !parsed.host) return 'invalid';
  req.url = parsed.pathname + parsed.search;
  req.headers.host = parsed.host;
  return 'ok';
}

/** Redirects that point at the upstream (or at the Host we sent it) come back to the public URL. */
export function rewriteLocation(location: string, o: { upstream: URL; sentHost: string; origin: string; prefix?: string }): string {
  const withPrefix = (path: string) => (o.prefix ? o.prefix + path.slice(1) : path);
  if (location.startsWith('/') && !location.startsWith('//')) return withPrefix(location);
  let url: URL;
  try {
    url = new URL(location);
  } catch {
    return location;
  }
  if (url.host !== o.upstream.host && url.host !== o.sentHost) return location;
  return o.origin + withPrefix(url.pathname) + url.search + url.hash;
}
