import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { ProtocolError } from '../framer.js';
import { relayEnding, type RelayCounts } from '../relay-end.js';
import type { SessionAudit } from '../session-audit.js';
import { errorResponse, KEPT_BACKEND, resultSummary } from './backend.js';
import { AUDITED_FRONTEND } from './frontend.js';
import { createStatementTracker } from './statements.js';
import { MessageFramer } from './wire.js';

export interface Relay {
  /** Ends the session: with a FATAL error the client can show when the stream is between messages, else by closing. */
  end(reason: string, message?: string): void;
}

/**
 * Relays an authenticated session. Bytes pass through unchanged (with backpressure, through
 * pipe); on the side, the client's stream is framed and its statements go to the audit in order,
 * and the server's CommandComplete and ErrorResponse messages go to the transcript.
 */
export function relayPostgres(options: {
  client: TLSSocket;
  upstream: Socket | TLSSocket;
  /** Client bytes that arrived with the startup message. */
  pending: Buffer;
  audit: SessionAudit;
  maxChars: number;
  /** When the gateway ends a session: stops the server's running statement (it would not notice the closed socket until it writes). */
  cancelUpstream: () => void;
  onEnd: () => void;
}): Relay {
  const { client, upstream, audit } = options;
  const counts: RelayCounts = { fromClient: 0, fromServer: 0 };
  const tracker = createStatementTracker({ maxChars: options.maxChars });
  // Enough of a message for max_query_chars of text (UTF-8: up to 4 bytes a character) and its parameters.
  const frontend = new MessageFramer(AUDITED_FRONTEND, Math.max(65_536, options.maxChars * 8), (frame) => {
    for (const statement of tracker.onFrame(frame)) audit.statement(statement);
  });
  const backend = new MessageFramer(KEPT_BACKEND, 8192, (frame) => {
    const summary = resultSummary(frame.type, frame.body);
    if (summary) audit.result(summary);
  });

  const end = relayEnding({
    client,
    upstream,
    audit,
    counts,
    detach: () => (client.unpipe(upstream), upstream.unpipe(client)),
    farewell: (message) => (backend.atBoundary() ? errorResponse({ severity: 'FATAL', code: '57P01', message }) : undefined),
    cancelUpstream: options.cancelUpstream,
    onEnd: options.onEnd,
  });
  const fromClient = (chunk: Buffer) => {
    counts.fromClient += chunk.length;
    try {
      frontend.push(chunk);
    } catch (err) {
      end('protocol_error', `gatehouse: ${err instanceof ProtocolError ? err.message : 'malformed message'}`);
    }
  };

  client.on('data', fromClient);
  upstream.on('data', (chunk: Buffer) => {
    counts.fromServer += chunk.length;
    try {
      backend.push(chunk);
    } catch {
      end('upstream_protocol_error', 'gatehouse: the database sent a malformed message');
    }
  });
  if (options.pending.length) {
    fromClient(options.pending);
    upstream.write(options.pending);
  }
  client.pipe(upstream);
  upstream.pipe(client);
  return { end };
}
