import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { SessionAudit } from './session-audit.js';

/** Bytes each way, counted by the relay's own data handlers. */
export interface RelayCounts {
  fromClient: number;
  fromServer: number;
}

/**
 * How a relayed session ends, the same in both protocols: once, when either side closes (what
 * it sent is flushed to the other) or when the gateway ends it with a message (the server's
 * statement is stopped, the client gets the protocol's error when the stream is between
 * messages, else the connection closes); then `db.session.end` and `onEnd`.
 */
export function relayEnding(o: {
  client: TLSSocket;
  upstream: Socket | TLSSocket;
  audit: SessionAudit;
  counts: RelayCounts;
  /** Stops moving bytes between the sides. */
  detach: () => void;
  /** The protocol's error carrying `message`, or undefined when it cannot be injected now. */
  farewell: (message: string) => Buffer | undefined;
  cancelUpstream: () => void;
  onEnd: () => void;
}): (reason: string, message?: string) => void {
  const { client, upstream } = o;
  let ended = false;
  const end = (reason: string, message?: string) => {
    if (ended) return;
    ended = true;
    o.detach();
    if (message === undefined) {
      client.end();
      upstream.end();
    } else {
      o.cancelUpstream();
      upstream.destroy();
      const bytes = o.farewell(message);
      if (bytes !== undefined && client.writable) client.end(bytes);
      else client.destroy();
    }
    setTimeout(() => (client.destroy(), upstream.destroy()), 5000).unref();
    o.audit.end({ bytesFromClient: o.counts.fromClient, bytesFromServer: o.counts.fromServer, reason });
    o.onEnd();
  };
  for (const socket of [client, upstream]) {
    socket.on('close', () => end('closed'));
    socket.on('error', () => (client.destroy(), upstream.destroy()));
  }
  return end;
}
