import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { AuditInput } from '../../audit/sink.js';
import type { RequestContext } from '../../core/types.js';
import type { RequestBoundSessions } from '../../requests/bound-sessions.js';
import { sendRawError } from '../upgrade-response.js';
import type { AppRegistry } from './apps.js';
import { lazyContext, type CredentialChain } from './credentials.js';
import type { Forwarder } from './forward.js';
import type { Decision } from './identity.js';
import { originForm } from './origin-form.js';
import type { UpstreamTargets } from './target.js';
import type { UpstreamHealth } from './upstream-health.js';

export interface AppUpgradeDeps {
  registry: AppRegistry;
  chain: CredentialChain;
  forwarder: Forwarder;
  targetFor: UpstreamTargets;
  health: UpstreamHealth;
  emit(input: AuditInput): Promise<void>;
  context(req: IncomingMessage): RequestContext;
  logger: { warn(obj: object, msg: string): void; error(obj: object, msg: string): void };
  requestSessions?: RequestBoundSessions;
}

/** An app's WebSocket (HTTP upgrade): same credentials and role check as its requests, plus an origin check. */
/** Upgrades, and the sockets they handed over (which a server's graceful close does not end). */
export interface AppUpgrades {
  handle(req: IncomingMessage, socket: Duplex, head: Buffer): boolean;
  /** Ends every open app WebSocket (shutdown). */
  endAll(): void;
}

export function createAppUpgrade(deps: AppUpgradeDeps): AppUpgrades {
  const { registry, chain, health } = deps;
  const open = new Set<Duplex>();
  const handle = (req: IncomingMessage, socket: Duplex, head: Buffer): boolean => {
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
      void deps.emit({
        type: 'access.denied',
        outcome: 'failure',
        reason: 'origin_rejected',
        details: { app: app.name, via: 'app-websocket', origin: origin.slice(0, 256) },
        context: deps.context(req),
      });
      return true;
    }
    const result = chain.decide(chain.credentialsFor(req, app, !app.publicHost), app, lazyContext(req, deps.context));
    const go = (decision: Decision | null) => {
      if (!decision) return sendRawError(socket, 401, 'unauthenticated', `Sign in to use ${app.name}.`);
      if (!decision.allowed) return sendRawError(socket, 403, 'access_denied', `You do not have access to the app "${app.name}".`);
      open.add(socket);
      socket.once('close', () => open.delete(socket));
      const unbind = deps.requestSessions?.bind(
        decision.viewer.access.requests.map((r) => r.id),
        () => socket.destroy(),
      );
      if (unbind) socket.once('close', unbind);
      deps.forwarder.upgrade(req, socket, head, deps.targetFor(req, app, decision, true), {
        onResponse: () => health.answered(app.name),
        onFailure: (kind, err) => {
          deps.logger.warn({ app: app.name, err: err.message }, 'app upstream failed (upgrade)');
          health.failed(app.name, kind, err, { user: decision.viewer.identity.username, context: deps.context(req) });
          sendRawError(
            socket,
            kind === 'timeout' ? 504 : 502,
            kind === 'timeout' ? 'app_timeout' : 'app_unavailable',
            `The app "${app.name}" is not reachable right now.`,
          );
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
    handle,
    endAll() {
      for (const socket of open) socket.destroy();
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
