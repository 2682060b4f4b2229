import type { JWTPayload } from 'jose';
import type { IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Socket } from 'node:net';
import type { AuditSink } from '../../audit/sink.js';
import type { Clock } from '../../core/clock.js';
import type { Logger } from '../../core/logger.js';
import { requestContext } from '../../core/request-context.js';
import { writeRawResponse } from '../upgrade-response.js';
import type { Admit } from './admit.js';
import { startExecSession, type ExecSession } from './exec-session.js';
import type { ExecRecorder } from './recording.js';
import type { AuditRequest } from './request-audit.js';
import { kubeStatus, type Denial } from './status.js';
import { clientHeaders, upstreamHeaders, upstreamTarget } from './upstream.js';

/** How much of a refused upgrade's answer is relayed. */
const MAX_ERROR_BODY = 1 << 20;
/** How often an open stream asks whether its token's login was revoked (a logout, an IdP's back-channel logout). */
export const STREAM_RECHECK_MS = 5_000;

export interface UpgradeOptions {
  admit: Admit;
  auditRequest: AuditRequest;
  audit: AuditSink;
  logger: Logger;
  /** Set when exec and attach sessions are recorded. */
  recorder?: ExecRecorder;
  clock: Clock;
  /** Whether the login behind a verified token was revoked since (TokenIssuer.isRevoked). */
  isRevoked(claims: JWTPayload): Promise<boolean>;
  recheckMs?: number;
}

export type UpgradeHandler = (req: IncomingMessage, socket: Socket, head: Buffer) => Promise<void>;

const refuse = (socket: Socket, denial: Denial) => writeRawResponse(socket, denial.status, { 'content-type': 'application/json' }, kubeStatus(denial));

/**
 * Protocol upgrades (exec, attach, port-forward; WebSocket and SPDY): admitted like any
 * request, then the two sockets are piped. Exec and attach are sessions (session.start is
 * durable before a byte flows; WebSocket output is recorded).
 */
export function createUpgradeHandler(options: UpgradeOptions): UpgradeHandler {
  const { audit, logger } = options;
  return async (req, socket, head) => {
    const started = performance.now();
    const context = requestContext(req, 0);
    socket.on('error', () => socket.destroy());
    const admitted = await options.admit(req, context);
    if ('denial' in admitted) return void refuse(socket, admitted.denial);
    const { upstream, info } = admitted;
    const upReq = httpsRequest({
      ...upstreamTarget(upstream, admitted.path),
      method: req.method,
      headers: upstreamHeaders(req, upstream, admitted.impersonation, true),
      agent: upstream.agent,
    });
    let code = 0;
    let session: ExecSession | undefined;
    let done = false;
    const finish = (extra: Record<string, unknown> = {}) => {
      if (done) return;
      done = true;
      options.auditRequest(admitted, req.method ?? '', context, { code: code || 502, started, extra });
      void session?.end(typeof extra.ended_by === 'string' ? extra.ended_by : undefined);
    };

    // Refused (e.g. 400 for a protocol the API server does not speak, so kubectl falls back to SPDY; 403 from RBAC): relay it.
    upReq.on('response', (upRes) => {
      code = upRes.statusCode ?? 502;
      const chunks: Buffer[] = [];
      let size = 0;
      upRes.on('data', (c: Buffer) => {
        size += c.length;
        if (size <= MAX_ERROR_BODY) chunks.push(c);
      });
      upRes.on('end', () => {
        writeRawResponse(socket, code, clientHeaders(upRes.headers, true), Buffer.concat(chunks));
        finish();
      });
    });
    upReq.on('upgrade', async (upRes, upSocket, upHead) => {
      code = upRes.statusCode ?? 101;
      upSocket.on('error', () => socket.destroy());
      const protocol = String(upRes.headers['sec-websocket-protocol'] ?? upRes.headers['x-stream-protocol-version'] ?? upRes.headers.upgrade ?? '');
      const websocket = String(upRes.headers.upgrade ?? '').toLowerCase() === 'websocket';
      if (info.subresource === 'exec' || info.subresource === 'attach') {
        try {
          session = await startExecSession({
            audit,
            logger,
            recorder: options.recorder,
            clock: options.clock,
            cluster: admitted.cluster.name,
            ...admitted.who,
            info,
            query: new URLSearchParams((req.url ?? '').split('?')[1] ?? ''),
            protocol,
            websocket: websocket && /(^|\.)channel\.k8s\.io$/.test(protocol),
            context,
          });
        } catch (err) {
          // The audit log cannot record the session: refuse it (fail closed).
          logger.error({ err }, 'session.start could not be audited; exec refused');
          upSocket.destroy();
          code = 503;
          refuse(socket, { status: 503, reason: 'audit_unavailable', message: 'The audit log cannot record this session.' });
          return finish({ reason: 'audit_unavailable' });
        }
      }
      let response = `HTTP/1.1 ${code} ${upRes.statusMessage ?? 'Switching Protocols'}\r\n`;
      for (let i = 0; i < upRes.rawHeaders.length; i += 2) response += `${upRes.rawHeaders[i]}: ${upRes.rawHeaders[i + 1]}\r\n`;
      socket.write(`${response}\r\n`);
      if (session) {
        const s = session;
        upSocket.on('data', (chunk: Buffer) => s.server(chunk));
        socket.on('data', (chunk: Buffer) => s.client(chunk));
        if (upHead.length) s.server(upHead);
      }
      if (upHead.length) socket.write(upHead);
      socket.pipe(upSocket);
      upSocket.pipe(socket);
      socket.setNoDelay(true);
      upSocket.setNoDelay(true);
      let endedBy: string | undefined;
      // A revoked login ends its open streams; an expired token does not (kubectl cannot renew mid-stream).
      const recheck = setInterval(() => {
        options.isRevoked(admitted.claims).then(
          (revoked) => {
            if (!revoked || done) return;
            endedBy = 'token_revoked';
            logger.info({ cluster: admitted.cluster.name, user: admitted.who.user }, 'kube stream ended: its login was revoked');
            close();
          },
          () => {}, // the store is away: the stream goes on, and the next check asks again
        );
      }, options.recheckMs ?? STREAM_RECHECK_MS);
      recheck.unref();
      const close = () => {
        clearInterval(recheck);
        socket.destroy();
        upSocket.destroy();
        finish({ session_id: session?.id, ...(endedBy ? { ended_by: endedBy } : {}) });
      };
      socket.on('close', close);
      upSocket.on('close', close);
    });
    upReq.on('error', (err) => {
      logger.warn({ err: err.message, cluster: admitted.cluster.name }, 'kube API server unreachable (upgrade)');
      code = 502;
      refuse(socket, { status: 502, reason: 'upstream_unreachable', message: `The API server of cluster "${admitted.cluster.name}" cannot be reached.` });
      finish({ reason: 'upstream_unreachable' });
    });
    socket.on('close', () => {
      if (!code) {
        upReq.destroy();
        finish({ completed: false });
      }
    });
    if (head.length) upReq.write(head);
    upReq.end();
  };
}
