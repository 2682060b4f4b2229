/**
 * Reading the file backend: queries stream the day files (forwards or backwards from a cursor)
 * with cheap pre-filters on the raw line before parsing; a cursor is a (day, byte offset)
 * position, stable under appends. Verification walks every file in chain order.
 */
import { open, readdir, type FileHandle } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { backwardLines, forwardLines } from '../lines.js';
import { compileMatcher, decodeCursor, encodeCursor, LOCATED_FIELDS, typePrefix, type AuditQuery } from '../query.js';
import type { Positioned } from '../reader.js';
import { createChainVerifier, parseRecord, type VerifyResult } from '../verify.js';
import { auditFiles, FILE_PATTERN, fileName, parseEvent } from './layout.js';

const CURSOR = /^f:(\d{4}-\d{2}-\d{2}):(\d{1,15})$/;
const fileCursor = (day: string, offset: number) => encodeCursor(`f:${day}:${offset}`);

/** Necessary conditions on the raw JSON line, so most non-matching lines are never parsed. */
function linePrefilter(query: AuditQuery): (line: string) => boolean {
  const needles: string[] = [];
  const field = (name: string, value: string) => `"${name}":${JSON.stringify(value)}`;
  if (query.user !== undefined) needles.push(field('user', query.user));
  if (query.outcome !== undefined) needles.push(field('outcome', query.outcome));
  if (query.id !== undefined) needles.push(field('id', query.id));
  for (const name of LOCATED_FIELDS) if (query[name] !== undefined) needles.push(field(name, query[name]!));
  const typeNeedles = (query.types ?? []).map((t) => {
    const prefix = typePrefix(t);
    return prefix === undefined ? field('type', t) : `"type":"${prefix}`;
  });
  const anyType = !typeNeedles.length || typeNeedles.includes('"type":"');
  // A printable-ASCII q without quote or backslash appears unescaped in the JSON line.
  const q = query.q && /^[\x20-\x7e]*$/.test(query.q) && !/["\\]/.test(query.q) ? query.q.toLowerCase() : undefined;
  return (line) =>
    needles.every((n) => line.includes(n)) && (anyType || typeNeedles.some((n) => line.includes(n))) && (q === undefined || line.toLowerCase().includes(q));
}

export async function* scanDir(dir: string, query: AuditQuery): AsyncGenerator<Positioned> {
  const match = compileMatcher(query);
  const pre = linePrefilter(query);
  const cursor = query.cursor ? decodeCursor(query.cursor, CURSOR) : undefined;
  const cursorDay = cursor?.[1];
  const cursorOffset = cursor ? Number(cursor[2]) : 0;
  const fromDay = query.from ? query.from.slice(0, 10) : undefined;
  const toMs = query.to ? Date.parse(query.to) : undefined;
  let days = (await readdir(dir))
    .map((f) => FILE_PATTERN.exec(f)?.[1])
    .filter((d): d is string => d !== undefined)
    .filter((d) => (fromDay === undefined || d >= fromDay) && (toMs === undefined || Date.parse(`${d}T00:00:00Z`) < toMs))
    .sort();
  const asc = query.order === 'asc';
  if (cursorDay) days = days.filter((d) => (asc ? d >= cursorDay : d <= cursorDay));
  if (!asc) days.reverse();

  for (const day of days) {
    let fh: FileHandle;
    try {
      fh = await open(join(dir, fileName(day)), 'r');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue; // removed by retention meanwhile
      throw err;
    }
    try {
      const size = (await fh.stat()).size;
      const atCursor = day === cursorDay;
      const lines = asc ? forwardLines(fh, atCursor ? cursorOffset : 0, size) : backwardLines(fh, atCursor ? cursorOffset : size);
      for await (const line of lines) {
        if (asc && atCursor && line.offset === cursorOffset) continue; // strictly after the cursor
        if (!line.text || !pre(line.text)) continue;
        const event = parseEvent(line.text);
        if (event && match(event)) yield { event, cursor: fileCursor(day, line.offset) };
      }
    } finally {
      await fh.close();
    }
  }
}

/** Verifies the chain of an audit directory (online, or offline: `gatehouse audit verify --dir`). */
export async function verifyAuditDir(dir: string): Promise<VerifyResult> {
  const verifier = createChainVerifier();
  for (const file of auditFiles(dir)) {
    const fh = await open(file, 'r');
    try {
      let lineNo = 0;
      for await (const line of forwardLines(fh, 0, (await fh.stat()).size, 1024 * 1024)) {
        lineNo++;
        if (!line.text) continue;
        const location = `${basename(file)}:${lineNo}`;
        if (verifier.add(parseRecord(line.text), location, /"id":"([0-9a-f-]{36})"/.exec(line.text)?.[1])) return verifier.finish();
      }
    } finally {
      await fh.close();
    }
  }
  return verifier.finish();
}
