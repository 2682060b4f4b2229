import { createServer, type RequestListener, type Server } from 'node:http';
import type { Socket } from 'node:net';
import type { AuditSink } from '../audit/sink.js';
import type { Logger } from '../core/logger.js';

const LOGIN_PATHS = /^(GET|POST) \/(login|callback|saml)\b/;

/**
 * The HTTP listener. Requests Node rejects before any handler runs (headers or URL
 * over 16 KiB, malformed requests) still get a JSON error with a stable code and an
 * audit event, instead of a bare 431 from the parser.
 */
export function createHttpServer(listener: RequestListener, options: { audit: AuditSink; logger: Logger }): Server {
  const server = createServer({ requestTimeout: 30_000, headersTimeout: 15_000 }, listener);
  server.keepAliveTimeout = 65_000;
  server.on('clientError', (err: NodeJS.ErrnoException & { rawPacket?: Buffer }, socket: Socket) => {
    const tooLarge = err.code === 'HPE_HEADER_OVERFLOW' || err.code === 'HPE_URI_TOO_LONG';
    const [status, code, message] = tooLarge
      ? [431, 'request_too_large', 'The request line or headers are too large.']
      : [400, 'bad_request', 'The request is malformed.'];
    if (err.code !== 'ECONNRESET' && socket.writable) {
      const body = JSON.stringify({ error: code, message });
      socket.end(
        `HTTP/1.1 ${status} ${tooLarge ? 'Request Header Fields Too Large' : 'Bad Request'}\r\n` +
          `content-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
      );
    } else {
      socket.destroy();
    }
    if (err.code === 'ECONNRESET') return;
    const start = err.rawPacket?.subarray(0, 64).toString('latin1') ?? '';
    const context = { remoteAddr: socket.remoteAddress };
    const event = LOGIN_PATHS.test(start)
      ? options.audit.emit({ type: 'user.login', outcome: 'failure', reason: code, context })
      : options.audit.emit({ type: 'http.rejected', outcome: 'failure', reason: code, details: { parser_error: err.code }, context });
    event.catch((auditErr) => options.logger.error({ err: auditErr }, 'audit write failed'));
  });
  return server;
}
