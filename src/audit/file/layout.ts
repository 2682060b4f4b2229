/** How the file backend lays out its directory: one JSONL file per UTC day, in chain order. */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AuditEvent } from '../sink.js';

export const FILE_PATTERN = /^audit-(\d{4}-\d{2}-\d{2})\.jsonl$/;
export const fileName = (day: string) => `audit-${day}.jsonl`;
export const dayOf = (ms: number) => new Date(ms).toISOString().slice(0, 10);

/** Files of an audit directory in chain order. */
export const auditFiles = (dir: string): string[] =>
  readdirSync(dir, { withFileTypes: true })
    .filter((f) => f.isFile() && FILE_PATTERN.test(f.name))
    .map((f) => f.name)
    .sort()
    .map((f) => join(dir, f));

/** Every event of a directory, in order (small logs and tests; queries stream instead). */
export function readAuditEvents(dir: string): AuditEvent[] {
  return auditFiles(dir).flatMap((file) =>
    readFileSync(file, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as AuditEvent),
  );
}

/** A line as an event, or undefined when it is not one (torn, or not JSON). */
export const parseEvent = (line: string): AuditEvent | undefined => {
  try {
    const event = JSON.parse(line) as AuditEvent;
    return event && typeof event.hash === 'string' && typeof event.time === 'string' ? event : undefined;
  } catch {
    return undefined;
  }
};
