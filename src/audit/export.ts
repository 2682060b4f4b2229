import type { AuditEvent } from './sink.js';

/** CSV columns of an export: the common fields, then details as JSON, then the chain. */
export const CSV_COLUMNS = [
  'id',
  'time',
  'type',
  'code',
  'outcome',
  'user',
  'connector',
  'roles',
  'remote_addr',
  'user_agent',
  'request_id',
  'session_id',
  'cluster',
  'node',
  'app',
  'reason',
  'details',
  'prev_hash',
  'hash',
] as const;

/**
 * One RFC 4180 field. Cells that a spreadsheet would run as a formula (=, +, -, @, tab, CR at the
 * start: attacker-controlled text such as a user agent) get a leading apostrophe; NDJSON is the
 * exact export.
 */
export function csvField(value: unknown): string {
  if (value === undefined || value === null) return '';
  let text = Array.isArray(value) ? value.join(';') : typeof value === 'object' ? JSON.stringify(value) : String(value);
  if (/^[=+\-@\t\r]/.test(text)) text = `'${text}`;
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

export const csvHeader = (): string => `${CSV_COLUMNS.join(',')}\r\n`;
export const csvRow = (event: AuditEvent): string => `${CSV_COLUMNS.map((c) => csvField((event as unknown as Record<string, unknown>)[c])).join(',')}\r\n`;
