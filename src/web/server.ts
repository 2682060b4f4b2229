import { createServer, type RequestListener, type Server } from 'node:http';
import type { Socket } from 'node:net';
import { type AuditSink, bestEffort } from '../audit/sink.js';
import type { Logger } from '../core/logger.js';
import { sendRawError } from '../proxy/upgrade-response.js';

/** A request line on a login path; group 1 is the connector id when the path names one. */
const LOGIN_REQUEST = /^(?:GET|POST) \/(?:login|callback|saml)(?:\/([a-z0-9][a-z0-9_-]{0,62}))?(?=[/?\s])/;
/** After answering a rejected request, keep reading (and dropping) what the client still sends for this long. */
const LINGER_MS = 5_000;

/**
 * The HTTP listener. Requests Node rejects before any handler runs (headers or URL
 * over 16 KiB, malformed requests) still get a JSON error with a stable code and an
 * audit event, instead of a bare 431 from the parser.
 */
export function createHttpServer(listener: RequestListener, options: { audit: AuditSink; logger: Logger; isConnector?(id: string): boolean }): Server {
  const server = createServer({ requestTimeout: 30_000, headersTimeout: 15_000 }, listener);
  server.keepAliveTimeout = 65_000;
  // Node emits clientError again for every further chunk the client sends after a parse error.
  // Answer and audit once per connection; the rest is the same rejected request.
  const answered = new WeakSet<Socket>();
  server.on('clientError', (err: NodeJS.ErrnoException & { rawPacket?: Buffer }, socket: Socket) => {
    if (answered.has(socket)) return;
    answered.add(socket);
    const tooLarge = err.code === 'HPE_HEADER_OVERFLOW' || err.code === 'HPE_URI_TOO_LONG';
    const [status, code, message] = tooLarge
      ? ([431, 'request_too_large', 'The request line or headers are too large.'] as const)
      : ([400, 'bad_request', 'The request is malformed.'] as const);
    if (err.code !== 'ECONNRESET' && socket.writable) {
      sendRawError(socket, status, code, message);
      // Closing while the client is still sending (a 1 MB header) makes the kernel reset the
      // connection, which can discard our answer before the client reads it. Linger instead:
      // the parser keeps reading and dropping input until the client closes, or LINGER_MS.
      const linger = setTimeout(() => socket.destroy(), LINGER_MS).unref();
      socket.once('close', () => clearTimeout(linger));
    } else {
      socket.destroy();
    }
    if (err.code === 'ECONNRESET') return;
    // Best effort: rawPacket is the chunk in which the parser failed. For a request sent in one
    // piece that is its start; when the request line came in an earlier chunk, we cannot tell
    // which path it named and record http.rejected.
    const start = err.rawPacket?.subarray(0, 128).toString('latin1') ?? '';
    const login = LOGIN_REQUEST.exec(start);
    const context = { remoteAddr: socket.remoteAddress };
    // Only a configured connector id becomes the event's connector; anything else is attacker text.
    const connector = login?.[1] !== undefined && options.isConnector?.(login[1]) ? login[1] : undefined;
    const requested = login?.[1] !== undefined && !connector ? { requested_connector: login[1].slice(0, 64) } : undefined;
    const emit = bestEffort(options.audit, options.logger);
    void (login
      ? emit({ type: 'user.login', outcome: 'failure', connector, reason: code, details: requested, context })
      : emit({ type: 'http.rejected', outcome: 'failure', reason: code, details: { parser_error: err.code }, context }));
  });
  return server;
}
