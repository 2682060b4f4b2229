import { readFileSync } from 'node:fs';
import http, { type IncomingMessage, type OutgoingHttpHeaders, type ServerResponse } from 'node:http';
import https from 'node:https';
import type { Duplex } from 'node:stream';
import { Pool } from 'undici';
import { ConfigError } from '../../core/config-error.js';
import { HOP_BY_HOP } from '../hop-by-hop.js';
import { relay } from '../relay.js';
import type { HttpApp } from './apps.js';
import { downstreamResponseHeaders, isGatehouseCookie } from './headers.js';

/**
 * Moves bytes between a client and an app's upstream: bodies stream in both directions (never
 * buffered), and each request is bounded by the app's connect, response and idle timeouts.
 * Requests go through an undici Pool per app (kept-alive connections; its client path costs about
 * a third less CPU per request than node:http's, see bench/README.md). WebSocket upgrades get a
 * node:http connection of their own, spliced to the client after the handshake.
 */

export interface ForwardTarget {
  app: HttpApp;
  /** Upstream request target (path and query). */
  path: string;
  headers: OutgoingHttpHeaders;
  rewriteLocation?: (location: string) => string;
  /** Add the sandbox CSP to the response (untrusted content on the gateway's origin). */
  sandbox?: boolean;
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

/** undici's error codes, as the two kinds of failure the caller answers with. */
function failureKind(code: string | undefined): ForwardFailure {
  return code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT' ? 'timeout' : 'unavailable';
}

/**
 * `apps` are read up front so that an unreadable `ca_file` stops start-up with the app's name,
 * rather than turning every request to that app into a 502.
 */
export function createForwarder(apps: HttpApp[]): Forwarder {
  const pools = new Map<string, Pool>();
  const trust = new Map<string, { ca: Buffer }>();
  apps.forEach((app, i) => {
    if (!app.config.ca_file) return;
    try {
      trust.set(app.name, { ca: readFileSync(app.config.ca_file) });
    } catch (err) {
      throw new ConfigError([`apps.${i}.ca_file: cannot read ${app.config.ca_file} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`]);
    }
  });
  /** A node:http request on a connection of its own (upgrades: the connection is handed over for good). */
  const request = (target: ForwardTarget, method: string) => {
    const up = target.app.upstream!;
    const options: http.RequestOptions = {
      agent: false,
      protocol: up.protocol,
      hostname: up.hostname.replace(/^\[|\]$/g, ''),
      port: up.port || (up.protocol === 'https:' ? 443 : 80),
      method,
      path: target.path,
      headers: target.headers,
      setHost: false,
      ...trust.get(target.app.name),
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

  const poolFor = (app: HttpApp): Pool => {
    let pool = pools.get(app.name);
    if (!pool) {
      const { connect, response, idle } = app.config.timeouts;
      pool = new Pool(app.upstream!.origin, {
        connections: 512,
        pipelining: 1,
        connectTimeout: connect,
        headersTimeout: response,
        bodyTimeout: idle,
        keepAliveTimeout: 4_000,
        connect: trust.get(app.name),
      });
      pools.set(app.name, pool);
    }
    return pool;
  };

  const forwardHttp = (req: IncomingMessage, res: ServerResponse, target: ForwardTarget, hooks: ForwardHooks): void =>
    relay(req, res, {
      dispatcher: poolFor(target.app),
      path: target.path,
      headers: target.headers as Record<string, string | string[]>,
      responseHeaders: (headers) => downstreamResponseHeaders(headers, { rewriteLocation: target.rewriteLocation, sandbox: target.sandbox }),
      onResponse: hooks.onResponse,
      onFailure: (err) => hooks.onFailure(failureKind(err.code), err),
    });

  const forwardUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer, target: ForwardTarget, hooks: ForwardHooks): void => {
    const ureq = request(target, req.method ?? 'GET');
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
    http: forwardHttp,
    upgrade: forwardUpgrade,
    close() {
      for (const pool of pools.values()) void pool.destroy();
      pools.clear();
    },
  };
}

const statusLine = (status: number, message: string | undefined) => `HTTP/1.1 ${status} ${(message ?? '').replace(/[\r\n]/g, '')}\r\n`;

/** Raw response headers as lines, minus Gatehouse cookies (and, when asked, hop-by-hop headers but Upgrade, which a 426 carries). */
function rawHeaderLines(raw: string[], dropConnection = false): string {
  let out = '';
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i].toLowerCase();
    if (name === 'set-cookie' && isGatehouseCookie(raw[i + 1].slice(0, raw[i + 1].indexOf('=')))) continue;
    if (dropConnection && HOP_BY_HOP.has(name) && name !== 'upgrade') continue;
    out += `${raw[i]}: ${raw[i + 1]}\r\n`;
  }
  return out;
}
