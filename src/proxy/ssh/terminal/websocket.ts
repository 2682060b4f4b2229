import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { resolveAccess, type Policy } from '../../../access/index.js';
import type { RequestBoundSessions } from '../../../requests/bound-sessions.js';
import { checkNodeLogin } from '../../../access/node-login.js';
import { type AuditSink, bestEffort } from '../../../audit/sink.js';
import type { SshConfig } from '../../../config/schema.js';
import { isGatehouseError } from '../../../core/errors.js';
import type { Logger } from '../../../core/logger.js';
import type { RequestContext } from '../../../core/types.js';
import type { Recorder } from '../../../recording/recorder.js';
import { sessionRef, type SessionManager } from '../../../sessions/sessions.js';
import type { SshCa } from '../../../ssh-ca/ca.js';
import { sendRawError } from '../../upgrade-response.js';
import { bridgeSession } from '../session.js';
import { connectUpstream } from '../upstream.js';
import { terminalSize, webSocketSession } from './channel.js';

export const TERMINAL_WS = /^\/terminal\/([^/?]+)\/ws(?:\?|$)/;

export interface WebTerminalDeps {
  ssh: SshConfig;
  publicUrl: string;
  policy: Policy;
  /** Also tells of sessions ending (on any replica): a terminal ends with the session it belongs to. */
  sessions: SessionManager;
  /** The gateway session id a request carries (its session cookie), given by the web layer. */
  sessionId(req: IncomingMessage): string | undefined;
  ca: SshCa;
  audit: AuditSink;
  recorder(): Recorder | undefined;
  context(req: IncomingMessage): RequestContext;
  logger: Logger;
  /** A terminal opened under access requests ends when they do. */
  requestSessions?: RequestBoundSessions;
}

/**
 * `GET /terminal/:node/ws?login=L&cols=C&rows=R` (WebSocket): a pty shell on a node for a signed-in
 * browser. Same checks, upstream connection, recording and audit as `ssh -J`: the login must be
 * allowed on the node's labels, the gateway connects with a fresh short-lived certificate
 * (connectUpstream), and the session is bridged by bridgeSession. The handshake must carry the
 * session cookie and come from a page on the gateway's own origin (no cross-site hijacking).
 * The terminal lives no longer than that gateway session: it ends at sign-out (on any replica)
 * and at the session's absolute expiry.
 */
export function createWebTerminal(deps: WebTerminalDeps): { upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): boolean; close(): void } {
  const wss = new WebSocketServer({ noServer: true, maxPayload: 64 * 1024 });
  const origin = new URL(deps.publicUrl).origin;
  const nodes = new Map(deps.ssh.nodes.map((n) => [n.name, n]));
  const emit = bestEffort(deps.audit, deps.logger);
  // Open terminals, with the gateway session each belongs to.
  const open = new Set<{ sessionRef: string; end(reason: string): void }>();
  const stopWatching = deps.sessions.onEnded(({ ref, reason }) => {
    for (const terminal of open) {
      if (terminal.sessionRef !== ref) continue;
      open.delete(terminal); // one end may be heard twice: tell the browser once
      terminal.end(reason === 'expired' ? 'the Gatehouse session expired' : 'signed out');
    }
  });

  async function accept(req: IncomingMessage, socket: Duplex, head: Buffer, nodeName: string) {
    const context = deps.context(req);
    const url = new URL(req.url ?? '/', origin);
    if (req.headers.origin !== origin) {
      emit({
        type: 'access.denied',
        outcome: 'failure',
        reason: 'origin_rejected',
        context,
        details: { node: nodeName.slice(0, 128), origin: String(req.headers.origin ?? '').slice(0, 200), via: 'web-terminal' },
      });
      return sendRawError(socket, 403, 'origin_rejected', 'The web terminal accepts WebSocket connections only from the gateway’s own pages.');
    }
    const id = deps.sessionId(req);
    const session = id ? await deps.sessions.get(id) : null;
    if (!session) return sendRawError(socket, 401, 'unauthenticated', 'Sign in first.');
    const identity = session.identity;
    const access = resolveAccess(identity, deps.policy);
    const login = url.searchParams.get('login') ?? '';
    const check = checkNodeLogin(access, nodes.get(nodeName), login);
    if (!check.allowed) {
      const { reason, node, logins: allowed } = check;
      emit({
        type: 'access.denied',
        outcome: 'failure',
        user: identity.username,
        connector: identity.connector,
        roles: access.roles,
        reason,
        context,
        details: { node: nodeName.slice(0, 128), login: login.slice(0, 64), allowed, via: 'web-terminal' },
      });
      return sendRawError(socket, 403, reason, node ? `${identity.username} may not log in as "${login}" on ${node.name}.` : `Unknown node "${nodeName}".`);
    }
    const { node } = check;
    let upstream;
    try {
      upstream = await connectUpstream({ node, login, user: identity.username, access, ca: deps.ca, requireHostKey: deps.ssh.require_host_key });
    } catch (err) {
      const code = isGatehouseError(err) ? err.code : 'node_unreachable';
      emit({
        type: 'ssh.auth',
        outcome: 'failure',
        user: identity.username,
        connector: identity.connector,
        roles: access.roles,
        reason: code,
        context,
        details: { stage: 'upstream', node: node.name, login, via: 'web-terminal', error: (err as Error).message },
      });
      return sendRawError(socket, 502, code, (err as Error).message);
    }
    // The browser may have gone while we connected (a page left at once): then handleUpgrade
    // never calls back, so the upstream is tied to the socket, not to the WebSocket.
    if (socket.destroyed) return void upstream.end();
    let ws: WebSocket | undefined;
    const end = (reason: string) => {
      if (ws && ws.readyState === ws.OPEN) ws.send(JSON.stringify({ type: 'ended', reason }));
      upstream.end();
    };
    const terminal = { sessionRef: sessionRef(session.id), end };
    // (setTimeout fires at once beyond 2^31 - 1 ms, about 24 days.)
    const expiry = setTimeout(() => end('the Gatehouse session expired'), Math.min(Math.max(0, session.expiresAt - Date.now()), 2 ** 31 - 1)).unref();
    open.add(terminal);
    const unbind = deps.requestSessions?.bind(
      access.requests.map((r) => r.id),
      () => end('the access request it used ended'),
    );
    socket.once('close', () => {
      unbind?.();
      clearTimeout(expiry);
      open.delete(terminal);
      upstream.end();
    });
    wss.handleUpgrade(req, socket, head, (upgraded) => {
      ws = upgraded;
      const cols = terminalSize(Number(url.searchParams.get('cols')), 1000) ?? 80;
      const rows = terminalSize(Number(url.searchParams.get('rows')), 1000) ?? 24;
      const { session: channelSession, begin } = webSocketSession(upgraded, { cols, rows });
      upstream.on('close', () => upgraded.close(1000));
      bridgeSession(
        channelSession,
        { identity, access, node, login, upstream, context, via: 'web-terminal' },
        { audit: deps.audit, recorder: deps.recorder(), envAllow: [], logger: deps.logger },
      );
      begin();
    });
  }

  return {
    upgrade(req, socket, head) {
      const match = TERMINAL_WS.exec(req.url ?? '');
      if (!match) return false;
      socket.on('error', () => {});
      let nodeName: string;
      try {
        nodeName = decodeURIComponent(match[1]);
      } catch {
        sendRawError(socket, 400, 'invalid_request', 'Bad node name.');
        return true;
      }
      accept(req, socket, head, nodeName).catch((err) => {
        deps.logger.error({ err }, 'web terminal handshake failed');
        sendRawError(socket, 500, 'internal_error', 'Internal server error.');
      });
      return true;
    },
    close() {
      void stopWatching();
      for (const ws of wss.clients) ws.close(1001);
      wss.close();
    },
  };
}
