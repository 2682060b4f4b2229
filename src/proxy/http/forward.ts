import http, { type IncomingMessage, type OutgoingHttpHeaders, type ServerResponse } from 'node:http';
import https from 'node:https';
import type { Duplex } from 'node:stream';
import type { HttpApp } from './apps.js';
import { downstreamResponseHeaders, isGatehouseCookie } from './headers.js';

/**
 * Moves bytes between a client and an app's upstream: bodies are piped in both directions (never
 * buffered), upstream connections are kept alive per app, and each request is bounded by the
 * app's connect, response and idle timeouts. WebSocket upgrades are spliced after the handshake.
 */

export interface ForwardTarget {
  app: HttpApp;
  /** Upstream request target (path and query). */
  path: string;
  headers: OutgoingHttpHeaders;
  rewriteLocation?: (location: string) => string;
}

/** Why forwarding failed before a response could start: 502 (unavailable) or 504 (timeout). */
export type ForwardFailure = 'unavailable' | 'timeout';

export interface ForwardHooks {
  /** Called at most once, before any response byte was written; the caller answers. */
  onFailure(kind: ForwardFailure, err: Error): void;
  /** Called when the upstream's response starts. */
  onResponse?(status: number): void;
}

export interface Forwarder {
  http(req: IncomingMessage, res: ServerResponse, target: ForwardTarget, hooks: ForwardHooks): void;
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer, target: ForwardTarget, hooks: ForwardHooks): void;
  close(): void;
}

export function createForwarder(): Forwarder {
  const agents = new Map<string, http.Agent>();
  const agentFor = (app: HttpApp): http.Agent => {
    let agent = agents.get(app.name);
    if (!agent) {
      const options = { keepAlive: true, keepAliveMsecs: 1000, maxSockets: 512, maxFreeSockets: 256, scheduling: 'lifo' as const };
      agent = app.upstream!.protocol === 'https:' ? new https.Agent(options) : new http.Agent(options);
      agents.set(app.name, agent);
    }
    return agent;
  };

  const request = (target: ForwardTarget, method: string, agent: http.Agent | false) => {
    const up = target.app.upstream!;
    const options: http.RequestOptions = {
      agent,
      protocol: up.protocol,
      hostname: up.hostname.replace(/^\[|\]$/g, ''),
      port: up.port || (up.protocol === 'https:' ? 443 : 80),
      method,
      path: target.path,
      headers: target.headers,
      setHost: false,
    };
    return up.protocol === 'https:' ? https.request(options) : http.request(options);
  };

  /** Connect and response-header timers, cleared as the request progresses. */
  const guard = (ureq: http.ClientRequest, app: HttpApp, fail: (kind: ForwardFailure, err: Error) => void) => {
    const { connect, response, idle } = app.config.timeouts;
    const responseTimer = setTimeout(() => fail('timeout', new Error(`no response within ${response} ms`)), response);
    let connectTimer: NodeJS.Timeout | undefined;
    ureq.on('socket', (socket) => {
      if (!socket.connecting) return;
      connectTimer = setTimeout(() => fail('unavailable', new Error(`no connection within ${connect} ms`)), connect);
      socket.once('connect', () => clearTimeout(connectTimer));
    });
    ureq.setTimeout(idle, () => fail('timeout', new Error(`idle for ${idle} ms`)));
    return () => {
      clearTimeout(responseTimer);
      clearTimeout(connectTimer);
    };
  };

  const forwardHttp = (req: IncomingMessage, res: ServerResponse, target: ForwardTarget, hooks: ForwardHooks, retried = false): void => {
    const ureq = request(target, req.method ?? 'GET', agentFor(target.app));
    let done = false;
    const bodyless = !req.headers['content-length'] && !req.headers['transfer-encoding'];
    const fail = (kind: ForwardFailure, err: Error) => {
      if (done) return;
      done = true;
      clear();
      ureq.destroy();
      // A kept-alive connection the upstream closed just as we reused it: retry once on a fresh
      // one when nothing was streamed yet (bodyless requests only; a body cannot be replayed).
      const code = (err as NodeJS.ErrnoException).code;
      if (!retried && bodyless && ureq.reusedSocket && (code === 'ECONNRESET' || code === 'EPIPE') && !res.headersSent) {
        forwardHttp(req, res, target, hooks, true);
        return;
      }
      if (res.headersSent) res.destroy(err);
      else hooks.onFailure(kind, err);
    };
    const clear = guard(ureq, target.app, fail);
    ureq.on('error', (err) => fail('unavailable', err));
    ureq.on('response', (ures) => {
      clear();
      if (done) return void ures.destroy();
      const status = ures.statusCode ?? 502;
      hooks.onResponse?.(status);
      res.writeHead(status, ures.statusMessage, downstreamResponseHeaders(ures.headers, { rewriteLocation: target.rewriteLocation }));
      ures.pipe(res);
      ures.on('error', (err) => res.destroy(err));
      ures.on('end', () => (done = true));
    });
    res.on('close', () => {
      if (!res.writableFinished && !done) {
        done = true;
        clear();
        ureq.destroy();
      }
    });
    // Only bodyless requests are ever retried, so a retry never needs the (consumed) body.
    if (bodyless) ureq.end();
    else req.pipe(ureq);
  };

  const forwardUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer, target: ForwardTarget, hooks: ForwardHooks): void => {
    // The upgraded connection is handed over to the client for good, so it never comes from the pool.
    const ureq = request(target, req.method ?? 'GET', false);
    let done = false;
    const fail = (kind: ForwardFailure, err: Error) => {
      if (done) return;
      done = true;
      clear();
      ureq.destroy();
      hooks.onFailure(kind, err);
    };
    const clear = guard(ureq, target.app, fail);
    ureq.on('error', (err) => fail('unavailable', err));
    socket.on('error', () => ureq.destroy());
    ureq.on('upgrade', (ures, usocket, uhead) => {
      clear();
      if (done) return void usocket.destroy();
      done = true;
      hooks.onResponse?.(101);
      socket.write(statusLine(101, ures.statusMessage) + rawHeaderLines(ures.rawHeaders) + '\r\n');
      if (uhead.length) socket.write(uhead);
      if (head.length) usocket.write(head);
      const idle = target.app.config.timeouts.idle;
      const close = () => {
        usocket.destroy();
        socket.destroy();
      };
      usocket.setTimeout(idle, close);
      usocket.on('error', close).on('close', close);
      socket.on('error', close).on('close', close);
      usocket.pipe(socket);
      socket.pipe(usocket);
    });
    ureq.on('response', (ures) => {
      // The upstream declined the upgrade: relay its answer as is.
      clear();
      if (done) return void ures.destroy();
      done = true;
      hooks.onResponse?.(ures.statusCode ?? 502);
      socket.write(statusLine(ures.statusCode ?? 502, ures.statusMessage) + rawHeaderLines(ures.rawHeaders, true) + 'connection: close\r\n\r\n');
      ures.pipe(socket);
    });
    ureq.end();
  };

  return {
    http: (req, res, target, hooks) => forwardHttp(req, res, target, hooks),
    upgrade: forwardUpgrade,
    close() {
      for (const agent of agents.values()) agent.destroy();
      agents.clear();
    },
  };
}

const statusLine = (status: number, message: string | undefined) => `HTTP/1.1 ${status} ${(message ?? '').replace(/[\r\n]/g, '')}\r\n`;

/** Raw response headers as lines, minus Gatehouse cookies (and connection handling when asked). */
function rawHeaderLines(raw: string[], dropConnection = false): string {
  let out = '';
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i].toLowerCase();
    if (name === 'set-cookie' && isGatehouseCookie(raw[i + 1].slice(0, raw[i + 1].indexOf('=')))) continue;
    if (dropConnection && (name === 'connection' || name === 'keep-alive' || name === 'transfer-encoding')) continue;
    out += `${raw[i]}: ${raw[i + 1]}\r\n`;
  }
  return out;
}
