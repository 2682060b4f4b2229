import { createReadStream, existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { isRecordingId } from './ids.js';
import type { RecordingMeta } from './recorder.js';

export interface CastHeader {
  version: number;
  width: number;
  height: number;
  timestamp?: number;
  [key: string]: unknown;
}
export type CastEvent = [number, 'o' | 'i' | 'r' | 'm', string];

/**
 * Reads an asciicast v2 file line by line. A last line cut short (the writer was killed mid-write)
 * is ignored, so a crashed session's prefix still reads.
 */
export async function* readCast(path: string): AsyncGenerator<CastHeader | CastEvent> {
  const lines = createInterface({ input: createReadStream(path, { encoding: 'utf8' }), crlfDelay: Infinity });
  let first = true;
  for await (const line of lines) {
    if (!line.trim()) continue;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      continue;
    }
    if (first) {
      first = false;
      const header = value as CastHeader;
      if (header?.version !== 2) throw new Error('not an asciicast v2 file');
      yield header;
    } else if (Array.isArray(value) && typeof value[0] === 'number' && typeof value[2] === 'string') yield value as CastEvent;
  }
}

/** CSI, OSC, and other escape sequences; what is left is what a person saw as text. */
// eslint-disable-next-line no-control-regex -- matching terminal control sequences is the point
const ANSI = /\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)|[PX^_][^\x1b]*\x1b\\|[@-Z\\-_]|[ -/][@-~])/g;

export function stripAnsi(text: string): string {
  return (
    text
      .replace(ANSI, '')
      .replace(/\r\n?/g, '\n')
      // eslint-disable-next-line no-control-regex -- the remaining control characters
      .replace(/[\x00-\x08\x0b-\x1f\x7f]/g, '')
  );
}

/** The output of a recording as plain text. */
export async function transcript(path: string): Promise<string> {
  let out = '';
  let isHeader = true;
  for await (const item of readCast(path)) {
    if (isHeader) {
      isHeader = false;
      continue;
    }
    const [, code, data] = item as CastEvent;
    if (code === 'o') out += data;
  }
  return stripAnsi(out);
}

export interface RecordingQuery {
  user?: string;
  node?: string;
  /** ISO 8601 or ms; sessions that started in [from, to]. */
  from?: number;
  to?: number;
  /** Case-insensitive text search over the transcript. */
  q?: string;
  /** Only this person's recordings (non-auditors). */
  owner?: string;
  limit?: number;
}

export interface RecordingStore {
  readonly dir: string;
  get(id: string): RecordingMeta | undefined;
  castPath(id: string): string | undefined;
  list(query: RecordingQuery): Promise<RecordingMeta[]>;
}

/** Recordings on disk: `<id>.cast` + `<id>.json`, newest first. Transcripts are cached by hash. */
export function createRecordingStore(dir: string): RecordingStore {
  const transcripts = new Map<string, string>();
  const get = (id: string): RecordingMeta | undefined => {
    if (!isRecordingId(id)) return undefined;
    try {
      return JSON.parse(readFileSync(join(dir, `${id}.json`), 'utf8')) as RecordingMeta;
    } catch {
      return undefined;
    }
  };
  const text = async (meta: RecordingMeta) => {
    const cached = meta.sha256 ? transcripts.get(meta.sha256) : undefined;
    if (cached !== undefined) return cached;
    const value = (await transcript(join(dir, `${meta.id}.cast`))).toLowerCase();
    if (meta.sha256) {
      if (transcripts.size > 2000) transcripts.clear();
      transcripts.set(meta.sha256, value);
    }
    return value;
  };
  return {
    dir,
    get,
    castPath: (id) => (isRecordingId(id) && existsSync(join(dir, `${id}.cast`)) ? join(dir, `${id}.cast`) : undefined),
    async list(query) {
      if (!existsSync(dir)) return [];
      const metas = readdirSync(dir)
        .filter((f) => f.endsWith('.json'))
        .map((f) => get(f.slice(0, -5)))
        .filter((m): m is RecordingMeta => m !== undefined)
        .filter(
          (m) =>
            (query.owner === undefined || m.user === query.owner) &&
            (query.user === undefined || m.user === query.user) &&
            (query.node === undefined || m.node === query.node),
        )
        .filter((m) => {
          const start = Date.parse(m.start);
          return (query.from === undefined || start >= query.from) && (query.to === undefined || start <= query.to);
        })
        .sort((a, b) => b.start.localeCompare(a.start));
      const limit = query.limit ?? 100;
      if (!query.q) return metas.slice(0, limit);
      const needle = query.q.toLowerCase();
      const found: RecordingMeta[] = [];
      for (const meta of metas) {
        if (found.length >= limit) break;
        if ((await text(meta).catch(() => '')).includes(needle)) found.push(meta);
      }
      return found;
    },
  };
}
