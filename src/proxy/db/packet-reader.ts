import type { Duplex } from 'node:stream';
import { ProtocolError } from './framer.js';

/** Reads one whole packet off the front of `buffer`, with the bytes it used; undefined until it is all there. Throws ProtocolError. */
export type ReadPacket<T> = (buffer: Buffer) => { packet: T; used: number } | undefined;

/**
 * Reads whole packets off a stream before the relay (a client's startup or handshake, a server's
 * handshake to the gateway's own sign-in), one at a time. Bytes beyond a packet are kept for the
 * next read, or handed over by `detach`.
 */
export class PacketReader<T> {
  private buffer: Buffer = Buffer.alloc(0);
  private waiter?: { resolve: (p: T) => void; reject: (e: Error) => void };
  private failure?: Error;
  /** True once any byte arrived (an idle port scan is not worth an audit event). */
  sawBytes = false;

  private readonly onData = (chunk: Buffer) => {
    this.sawBytes = true;
    this.buffer = this.buffer.length ? Buffer.concat([this.buffer, chunk]) : chunk;
    this.pump();
  };
  private readonly onClose = () => this.fail(new ProtocolError(this.closedMessage));

  constructor(
    private readonly stream: Duplex,
    private readonly read: ReadPacket<T>,
    /** The error when the stream ends before a packet is whole. */
    private readonly closedMessage: string,
  ) {
    stream.on('data', this.onData);
    stream.on('end', this.onClose);
    stream.on('close', this.onClose);
  }

  next(): Promise<T> {
    return new Promise((resolve, reject) => {
      this.waiter = { resolve, reject };
      this.pump();
    });
  }

  /** Stops reading; returns what arrived after the last packet. */
  detach(): Buffer {
    this.stream.off('data', this.onData);
    this.stream.off('end', this.onClose);
    this.stream.off('close', this.onClose);
    this.stream.pause();
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
      const read = this.read(this.buffer);
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
