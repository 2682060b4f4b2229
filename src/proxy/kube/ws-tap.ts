/**
 * Reads (never changes) one direction of a WebSocket connection that Kubernetes' channel
 * protocols (`v5.channel.k8s.io` ... `channel.k8s.io`, and the `base64.` variants) run over,
 * and reports each message's channel and payload: stdin 0, stdout 1, stderr 2, error/status 3,
 * resize 4, close 255. The bytes themselves are piped through untouched by the caller.
 *
 * - frames are parsed incrementally (any split across chunks), masked or not;
 * - binary payloads are streamed to `onData` as they arrive, never buffered whole;
 * - base64 (text) messages are collected up to MAX_TEXT, then decoded;
 * - compressed frames (RSV1) cannot occur: the proxy removes `Sec-WebSocket-Extensions`;
 * - control frames (ping, pong, close) are skipped.
 */
const MAX_TEXT = 1 << 20;

export type ChannelHandler = (channel: number, data: Buffer) => void;

export function createChannelTap(onData: ChannelHandler, options: { base64: boolean }) {
  let header: Buffer = Buffer.alloc(0);
  let remaining = 0; // payload bytes left in the current frame
  let mask: Buffer | undefined;
  let maskOffset = 0;
  let control = false;
  let channel = -1; // of the current message (set by its first payload byte)
  let text: Buffer[] = [];
  let textSize = 0;
  let fin = true;
  let broken = false;

  const payload = (chunk: Buffer) => {
    if (mask) {
      const copy = Buffer.from(chunk);
      for (let i = 0; i < copy.length; i++) copy[i] ^= mask[(maskOffset + i) & 3];
      maskOffset += copy.length;
      chunk = copy;
    }
    if (control || !chunk.length) return;
    if (options.base64) {
      if (textSize + chunk.length <= MAX_TEXT) text.push(chunk);
      textSize += chunk.length;
      return;
    }
    if (channel === -1) {
      channel = chunk[0];
      chunk = chunk.subarray(1);
    }
    if (chunk.length) onData(channel, chunk);
  };

  const endFrame = () => {
    if (control || !fin) return;
    if (options.base64 && textSize) {
      const message = Buffer.concat(text).toString('latin1');
      const ch = message.charCodeAt(0) - 48;
      if (ch >= 0 && ch <= 9) onData(ch, Buffer.from(message.slice(1), 'base64'));
      text = [];
      textSize = 0;
    }
    channel = -1;
  };

  return {
    write(chunk: Buffer): void {
      while (chunk.length && !broken) {
        if (remaining > 0) {
          const take = Math.min(remaining, chunk.length);
          payload(chunk.subarray(0, take));
          remaining -= take;
          chunk = chunk.subarray(take);
          if (remaining === 0) endFrame();
          continue;
        }
        header = header.length ? Buffer.concat([header, chunk]) : chunk;
        if (header.length < 2) return;
        const b0 = header[0];
        const b1 = header[1];
        let length = b1 & 0x7f;
        let offset = 2;
        if (length === 126) {
          if (header.length < 4) return;
          length = header.readUInt16BE(2);
          offset = 4;
        } else if (length === 127) {
          if (header.length < 10) return;
          const big = header.readBigUInt64BE(2);
          if (big > BigInt(Number.MAX_SAFE_INTEGER)) {
            broken = true;
            return;
          }
          length = Number(big);
          offset = 10;
        }
        const masked = (b1 & 0x80) !== 0;
        if (header.length < offset + (masked ? 4 : 0)) return;
        mask = masked ? Buffer.from(header.subarray(offset, offset + 4)) : undefined;
        offset += masked ? 4 : 0;
        maskOffset = 0;
        const opcode = b0 & 0x0f;
        control = opcode >= 8;
        if (!control) fin = (b0 & 0x80) !== 0;
        remaining = length;
        chunk = header.subarray(offset);
        header = Buffer.alloc(0);
        if (remaining === 0) endFrame();
      }
    },
  };
}
