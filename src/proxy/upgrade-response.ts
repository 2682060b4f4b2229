import type { Duplex } from 'node:stream';
import type { ErrorCode } from '../core/error-codes.js';

/**
 * An answer on a socket that asked for an upgrade (no ServerResponse exists there): the app
 * proxy's WebSocket upgrades and the browser terminal's both refuse this way.
 */
export function sendRawError(socket: Duplex, status: number, code: ErrorCode, message: string): void {
  if (!socket.writable) return void socket.destroy();
  const body = JSON.stringify({ error: code, message });
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_TEXT[status] ?? 'Error'}\r\ncontent-type: application/json\r\n` +
      `content-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
  );
}

const STATUS_TEXT: Record<number, string> = { 400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 500: 'Internal Server Error', 502: 'Bad Gateway', 503: 'Service Unavailable', 504: 'Gateway Timeout' };
