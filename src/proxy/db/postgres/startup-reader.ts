import type { Socket } from 'node:net';
import { readStartupPacket, type StartupPacket } from './frontend.js';
import { ProtocolError } from './wire.js';

/**
 * Reads startup packets off a socket, one at a time. Bytes beyond a packet are kept for the next
 * read, or handed over by `detach` (an SSLRequest followed by anything is refused by the caller:
 * plaintext bytes must never be read as if they came through TLS).
 */
export class StartupReader {
  private buffer: Buffer = Buffer.alloc(0);
  private waiter?: { resolve: (p: StartupPacket) => void; reject: (e: Error) => void };
  private failure?: Error;
  /** True once any byte arrived (an idle port scan is not worth an audit event). */
  sawBytes = false;

  private readonly onData = (chunk: Buffer) => {
    this.sawBytes = true;
    this.buffer = this.buffer.length ? Buffer.concat([this.buffer, chunk]) : chunk;
    this.pump();
  };
  private readonly onClose = () => this.fail(new ProtocolError('the client closed the connection during the startup'));

  constructor(private readonly socket: Socket) {
    socket.on('data', this.onData);
    socket.on('end', this.onClose);
    socket.on('close', this.onClose);
  }

  next(): Promise<StartupPacket> {
    return new Promise((resolve, reject) => {
      this.waiter = { resolve, reject };
      this.pump();
    });
  }

  /** Stops reading; returns what arrived after the last packet. */
  detach(): Buffer {
    this.socket.off('data', this.onData);
    this.socket.off('end', this.onClose);
    this.socket.off('close', this.onClose);
    this.socket.pause();
    const rest = this.buffer;
    this.buffer = Buffer.alloc(0);
    return rest;
  }

  private fail(err: Error) {
    this.failure ??= err;
    this.pump();
  }

  private pump() {
    const waiter = this.waiter;
    if (!waiter) return;
    try {
      const read = readStartupPacket(this.buffer);
      if (!read) {
        if (this.failure) throw this.failure;
        return;
      }
      this.buffer = this.buffer.subarray(read.used);
      this.waiter = undefined;
      waiter.resolve(read.packet);
    } catch (err) {
      this.waiter = undefined;
      this.detach();
      waiter.reject(err as Error);
    }
  }
}
