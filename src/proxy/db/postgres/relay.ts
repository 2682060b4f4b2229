import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { SessionAudit } from '../session-audit.js';
import { errorResponse, KEPT_BACKEND, resultSummary } from './backend.js';
import { AUDITED_FRONTEND } from './frontend.js';
import { createStatementTracker } from './statements.js';
import { MessageFramer, ProtocolError } from './wire.js';

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
  let bytesFromClient = 0;
  let bytesFromServer = 0;
  let ended = false;
  const tracker = createStatementTracker({ maxChars: options.maxChars });
  // Enough of a message for max_query_chars of text (UTF-8: up to 4 bytes a character) and its parameters.
  const frontend = new MessageFramer(AUDITED_FRONTEND, Math.max(65_536, options.maxChars * 8), (frame) => {
    for (const statement of tracker.onFrame(frame)) audit.statement(statement);
  });
  const backend = new MessageFramer(KEPT_BACKEND, 8192, (frame) => {
    const summary = resultSummary(frame.type, frame.body);
    if (summary) audit.result(summary);
  });

  const end = (reason: string, message?: string) => {
    if (ended) return;
    ended = true;
    client.unpipe(upstream);
    upstream.unpipe(client);
    if (message === undefined) {
      // One side closed: what it sent has been written to the other, which ends after flushing.
      client.end();
      upstream.end();
    } else {
      options.cancelUpstream();
      upstream.destroy();
      if (backend.atBoundary() && client.writable) client.end(errorResponse({ severity: 'FATAL', code: '57P01', message }));
      else client.destroy();
    }
    setTimeout(() => (client.destroy(), upstream.destroy()), 5000).unref();
    audit.end({ bytesFromClient, bytesFromServer, reason });
    options.onEnd();
  };
  const fromClient = (chunk: Buffer) => {
    bytesFromClient += chunk.length;
    try {
      frontend.push(chunk);
    } catch (err) {
      end('protocol_error', `gatehouse: ${err instanceof ProtocolError ? err.message : 'malformed message'}`);
    }
  };

  client.on('data', fromClient);
  upstream.on('data', (chunk: Buffer) => {
    bytesFromServer += chunk.length;
    try {
      backend.push(chunk);
    } catch {
      end('upstream_protocol_error', 'gatehouse: the database sent a malformed message');
    }
  });
  for (const socket of [client, upstream]) {
    socket.on('close', () => end('closed'));
    socket.on('error', () => (client.destroy(), upstream.destroy()));
  }
  if (options.pending.length) {
    fromClient(options.pending);
    upstream.write(options.pending);
  }
  client.pipe(upstream);
  upstream.pipe(client);
  return { end };
}
