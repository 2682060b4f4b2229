import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { relayEnding, type RelayCounts } from '../relay-end.js';
import type { SessionAudit } from '../session-audit.js';
import { CommandStream } from './command-stream.js';
import { createCommandHandler, type KillDecision } from './commands.js';
import { createResponseTracker } from './responses.js';
import { errPacket, PacketFramer } from './wire.js';

export interface MysqlRelay {
  /** Ends the session: with an ERR the client shows when it is waiting for an answer, else by closing. */
  end(reason: string, message?: string): void;
}

/** ER_CONNECTION_KILLED: what the client shows when the gateway ends its session. */
const CONNECTION_KILLED = 1927;
/** Enough of a server packet for an ERR message, an OK's counts and a prepare's ids. */
const SERVER_CAPTURE = 1024;

/**
 * Relays an authenticated MySQL session. The server's bytes pass through unchanged (piped, with
 * backpressure) and are framed on the side for the transcript; the client's go through the
 * command stream, which holds each command long enough to audit, check or rewrite it.
 */
export function relayMysql(options: {
  client: TLSSocket;
  upstream: Socket | TLSSocket;
  /** Client bytes that arrived with the handshake response. */
  pending: Buffer;
  audit: SessionAudit;
  maxChars: number;
  multiStatements: boolean;
  checkName: (name: string) => { reason: string; message: string } | undefined;
  kill: (gatewayId: number, what: 'query' | 'connection') => Promise<KillDecision>;
  /** When the gateway ends a session: stops the server's running statement. */
  cancelUpstream: () => void;
  onEnd: () => void;
}): MysqlRelay {
  const { client, upstream, audit } = options;
  const counts: RelayCounts = { fromClient: 0, fromServer: 0 };

  const handler = createCommandHandler({
    maxChars: options.maxChars,
    multiStatements: options.multiStatements,
    checkName: options.checkName,
    kill: options.kill,
    statement: (s) => audit.statement(s),
    summary: (text) => audit.result(text),
    expect: (kind) => responses.expect(kind),
  });
  const responses = createResponseTracker({
    summary: (text) => audit.result(text),
    prepared: (id, params) => handler.prepared(id, params),
    localInfile: () => (commands.sendingFile = true),
  });
  const framer = new PacketFramer(SERVER_CAPTURE, (p) => responses.onPacket(p));
  const commands = new CommandStream(
    Math.max(65_536, options.maxChars * 4 + 16),
    (command) => handler.decide(command),
    (bytes) => {
      if (!upstream.write(bytes)) {
        client.pause();
        upstream.once('drain', () => client.resume());
      }
    },
    (reply, endSession) => {
      if (endSession) {
        client.end(reply);
        end('refused');
      } else client.write(reply);
    },
    () => end('protocol_error', 'gatehouse: the gateway could not follow the session'),
  );

  const end = relayEnding({
    client,
    upstream,
    audit,
    counts,
    detach: () => (upstream.unpipe(client), client.off('data', fromClient)),
    farewell: (message) => {
      const seq = framer.atBoundary() ? responses.injectSeq() : undefined;
      return seq === undefined ? undefined : errPacket(seq, CONNECTION_KILLED, '70100', message);
    },
    cancelUpstream: options.cancelUpstream,
    onEnd: options.onEnd,
  });
  const fromClient = (chunk: Buffer) => {
    counts.fromClient += chunk.length;
    commands.push(chunk);
  };

  client.on('data', fromClient);
  upstream.on('data', (chunk: Buffer) => {
    counts.fromServer += chunk.length;
    framer.push(chunk);
  });
  upstream.pipe(client);
  if (options.pending.length) fromClient(options.pending);
  client.resume();
  return { end };
}
