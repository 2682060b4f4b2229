import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import type { ErrorCode } from '../core/error-codes.js';

/**
 * An HTTP response written on a raw socket, where no ServerResponse exists (a refused upgrade,
 * a request the parser rejected), then the connection is closed.
 */
export function writeRawResponse(socket: Duplex, status: number, headers: Record<string, string | string[]>, body: string | Buffer): void {
  if (!socket.writable) return void socket.destroy();
  const payload = typeof body === 'string' ? Buffer.from(body) : body;
  let head = `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}\r\n`;
  for (const [name, value] of Object.entries(headers)) for (const v of ([] as string[]).concat(value)) head += `${name}: ${v}\r\n`;
  head += `content-length: ${payload.length}\r\nconnection: close\r\n\r\n`;
  socket.end(Buffer.concat([Buffer.from(head, 'latin1'), payload]));
}

/**
 * Gatehouse's JSON error on a raw socket: the app proxy's WebSocket upgrades, the browser
 * terminal's and the HTTP listener's parser errors all answer this way.
 */
export function sendRawError(socket: Duplex, status: number, code: ErrorCode, message: string): void {
  writeRawResponse(socket, status, { 'content-type': 'application/json' }, JSON.stringify({ error: code, message }));
}
