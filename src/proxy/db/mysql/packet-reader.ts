import type { Duplex } from 'node:stream';
import { ProtocolError } from './wire.js';

export interface WholePacket {
  seq: number;
  payload: Buffer;
}

/**
 * Reads whole packets off a stream during a handshake (the client's to the gateway, the server's
 * to the gateway's own sign-in), one at a time, refusing a length over `maxLength` from its
 * header, before reading the payload. Bytes beyond a packet are kept for the next read, or
 * handed over by `detach`.
 */
export class PacketReader {
  private buffer: Buffer = Buffer.alloc(0);
  private waiter?: { resolve: (p: WholePacket) => void; reject: (e: Error) => void };
  private failure?: Error;
  /** True once any byte arrived. */
  sawBytes = false;

  private readonly onData = (chunk: Buffer) => {
    this.sawBytes = true;
    this.buffer = this.buffer.length ? Buffer.concat([this.buffer, chunk]) : chunk;
    this.pump();
  };
  private readonly onClose = () => this.fail(new ProtocolError(`${this.peer} closed the connection during the handshake`));

  constructor(
    private readonly stream: Duplex,
    private readonly maxLength: number,
    private readonly peer = 'the client',
  ) {
    stream.on('data', this.onData);
    stream.on('end', this.onClose);
    stream.on('close', this.onClose);
  }

  next(): Promise<WholePacket> {
    return new Promise((resolve, reject) => {
      this.waiter = { resolve, reject };
      this.pump();
    });
  }

  /** Bytes that arrived after the last packet read. */
  get pending(): number {
    return this.buffer.length;
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
      const read = this.read();
      if (!read) {
        if (this.failure) throw this.failure;
        return;
      }
      this.waiter = undefined;
      waiter.resolve(read);
    } catch (err) {
      this.waiter = undefined;
      this.detach();
      waiter.reject(err as Error);
    }
  }

  private read(): WholePacket | undefined {
    if (this.buffer.length < 4) return undefined;
    const length = this.buffer.readUIntLE(0, 3);
    if (length > this.maxLength) throw new ProtocolError(`handshake packet of ${length} bytes is over the cap of ${this.maxLength}`);
    if (this.buffer.length < 4 + length) return undefined;
    const packet = { seq: this.buffer[3], payload: this.buffer.subarray(4, 4 + length) };
    this.buffer = this.buffer.subarray(4 + length);
    return packet;
  }
}
