import { Parser } from 'pg-protocol/dist/parser.js';
import type { BackendMessage } from 'pg-protocol/dist/messages.js';
import { cstr, int32, message } from './wire.js';

/*
 * The backend (server) side: the few messages the gateway itself sends a client, and the
 * decoding of what the relay keeps for the transcript (CommandComplete, ErrorResponse), which
 * pg-protocol's Parser does from the kept bytes.
 */

export const SSL_ACCEPTED = Buffer.from('S');
export const SSL_REFUSED = Buffer.from('N');

export interface ErrorFields {
  /** FATAL for refusals that end the connection, ERROR otherwise. */
  severity: 'FATAL' | 'ERROR';
  /** SQLSTATE, e.g. 28000 (invalid_authorization_specification). */
  code: string;
  message: string;
  detail?: string;
  hint?: string;
}

export function errorResponse(e: ErrorFields): Buffer {
  const fields: [string, string | undefined][] = [
    ['S', e.severity],
    ['V', e.severity],
    ['C', e.code],
    ['M', e.message],
    ['D', e.detail],
    ['H', e.hint],
  ];
  const parts = fields.filter(([, v]) => v !== undefined).map(([k, v]) => Buffer.concat([Buffer.from(k), cstr(v!)]));
  return message('E', Buffer.concat([...parts, Buffer.from([0])]));
}

export const authenticationOk = (): Buffer => message('R', int32(0));
export const parameterStatus = (name: string, value: string): Buffer => message('S', Buffer.concat([cstr(name), cstr(value)]));
export const backendKeyData = (pid: number, secret: number): Buffer => message('K', Buffer.concat([int32(pid), int32(secret)]));
export const readyForQuery = (status: string): Buffer => message('Z', Buffer.from(status, 'latin1'));

export const COMMAND_COMPLETE = 0x43; // C
export const ERROR_RESPONSE = 0x45; // E
export const EMPTY_QUERY = 0x49; // I

/** The backend message types the relay keeps. */
export const KEPT_BACKEND = (type: number): boolean => type === COMMAND_COMPLETE || type === ERROR_RESPONSE || type === EMPTY_QUERY;

/** A short summary of a statement's result for the transcript: the command tag, or the error. */
export function resultSummary(type: number, body: Buffer): string | undefined {
  if (type === EMPTY_QUERY) return '(empty query)';
  let summary: string | undefined;
  new Parser().parse(Buffer.concat([Buffer.from([type]), int32(body.length + 4), body]), (msg: BackendMessage) => {
    if (msg.name === 'commandComplete') summary = (msg as unknown as { text: string }).text;
    else if (msg.name === 'error') {
      const e = msg as unknown as { severity?: string; code?: string; message: string };
      summary = `${e.severity ?? 'ERROR'}: ${e.message} (SQLSTATE ${e.code ?? '?'})`;
    }
  });
  return summary;
}
