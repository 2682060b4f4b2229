import type { Duplex } from 'node:stream';
import { ProtocolError } from '../framer.js';
import { PacketReader } from '../packet-reader.js';

export interface WholePacket {
  seq: number;
  payload: Buffer;
}

/**
 * Reads whole packets off a stream during a handshake (the client's to the gateway, the server's
 * to the gateway's own sign-in), refusing a length over `maxLength` from its header, before
 * reading the payload.
 */
export function handshakeReader(stream: Duplex, maxLength: number, peer = 'the client'): PacketReader<WholePacket> {
  return new PacketReader(
    stream,
    (buffer) => {
      if (buffer.length < 4) return undefined;
      const length = buffer.readUIntLE(0, 3);
      if (length > maxLength) throw new ProtocolError(`handshake packet of ${length} bytes is over the cap of ${maxLength}`);
      if (buffer.length < 4 + length) return undefined;
      return { packet: { seq: buffer[3], payload: buffer.subarray(4, 4 + length) }, used: 4 + length };
    },
    `${peer} closed the connection during the handshake`,
  );
}
