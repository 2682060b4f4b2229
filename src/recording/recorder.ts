import { createHash, type Hash } from 'node:crypto';
import { closeSync, mkdirSync, openSync, renameSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import { systemClock, type Clock } from '../core/clock.js';
import { isRecordingId } from './ids.js';

/** What a recording is about; written next to the .cast as `<id>.json`. */
export interface RecordingMeta {
  /** = the SSH session id in session.start / session.end. */
  id: string;
  user: string;
  login: string;
  node: string;
  /** The exec command, absent for a shell. */
  command?: string;
  kind: 'shell' | 'exec';
  /** ISO 8601 */
  start: string;
  end?: string;
  cols: number;
  rows: number;
  term?: string;
  /** Output bytes seen (recorded or not). */
  bytes: number;
  exit_code?: number | null;
  exit_signal?: string;
  /** SHA-256 of the .cast file, once closed. */
  sha256?: string;
  /** True when the size quota stopped the recording early. */
  truncated?: boolean;
  /** Absent until the session ends: a crash leaves a playable prefix without it. */
  complete?: boolean;
}

/** One session being recorded. Writes are appended and handed to the kernel as they happen. */
export interface RecordingStream {
  readonly id: string;
  output(data: Buffer): void;
  input(data: Buffer): void;
  resize(cols: number, rows: number): void;
  close(result: { exitCode?: number | null; exitSignal?: string }): RecordingMeta;
}

export interface Recorder {
  readonly dir: string;
  start(meta: Omit<RecordingMeta, 'start' | 'bytes' | 'kind'> & { kind: RecordingMeta['kind'] }, env?: Record<string, string>): RecordingStream;
}

export interface RecorderOptions {
  dir: string;
  maxBytesPerSession: number;
  recordInput: boolean;
  /** Called once when a session reaches the quota and stops being recorded. */
  onQuota?: (meta: RecordingMeta) => void;
  /** Time source for the asciicast timestamps and the session's start and end. */
  clock?: Clock;
}

/**
 * asciicast v2 (https://docs.asciinema.org/manual/asciicast/v2/): a JSON header line, then one
 * `[seconds, code, data]` line per event (`o` output, `i` input, `r` resize "COLSxROWS").
 * Each event is written with one write(2) as it happens, so SIGKILL leaves a valid prefix. The
 * metadata file is written at start and rewritten (atomically) at close.
 */
export function createRecorder(options: RecorderOptions): Recorder {
  const clock = options.clock ?? systemClock;
  let dirReady = false;
  return {
    dir: options.dir,
    start(init, env = {}) {
      if (!isRecordingId(init.id)) throw new Error(`invalid recording id ${init.id}`);
      if (!dirReady) mkdirSync(options.dir, { recursive: true, mode: 0o750 });
      dirReady = true;
      const started = clock.now();
      const meta: RecordingMeta = { ...init, start: new Date(started).toISOString(), bytes: 0 };
      const castPath = join(options.dir, `${init.id}.cast`);
      const metaPath = join(options.dir, `${init.id}.json`);
      const writeMeta = () => {
        writeFileSync(`${metaPath}.tmp`, `${JSON.stringify(meta, null, 2)}\n`, { mode: 0o640 });
        renameSync(`${metaPath}.tmp`, metaPath);
      };
      writeMeta();
      const fd = openSync(castPath, 'wx', 0o640);
      const hash: Hash = createHash('sha256');
      let written = 0;
      let recording = true;
      let closed = false;
      const decoders = { o: new StringDecoder('utf8'), i: new StringDecoder('utf8') };
      const append = (line: string) => {
        const buf = Buffer.from(line, 'utf8');
        writeSync(fd, buf);
        hash.update(buf);
        written += buf.length;
      };
      append(
        `${JSON.stringify({
          version: 2,
          width: init.cols,
          height: init.rows,
          timestamp: Math.floor(started / 1000),
          command: init.command,
          title: `${init.user} as ${init.login}@${init.node}`,
          env: { TERM: init.term, ...env },
        })}\n`,
      );
      const event = (code: 'o' | 'i' | 'r', data: string) => {
        if (!recording || closed || data === '') return;
        const line = `${JSON.stringify([Number(((clock.now() - started) / 1000).toFixed(6)), code, data])}\n`;
        if (written + Buffer.byteLength(line) > options.maxBytesPerSession) {
          recording = false;
          meta.truncated = true;
          options.onQuota?.(meta);
          return;
        }
        append(line);
      };
      return {
        id: init.id,
        output(data) {
          meta.bytes += data.length;
          event('o', decoders.o.write(data));
        },
        input(data) {
          if (options.recordInput) event('i', decoders.i.write(data));
        },
        resize(cols, rows) {
          meta.cols = cols;
          meta.rows = rows;
          event('r', `${cols}x${rows}`);
        },
        close({ exitCode, exitSignal }) {
          if (closed) return meta;
          event('o', decoders.o.end());
          closed = true;
          closeSync(fd);
          meta.end = new Date(clock.now()).toISOString();
          meta.exit_code = exitCode ?? null;
          if (exitSignal) meta.exit_signal = exitSignal;
          meta.sha256 = hash.digest('hex');
          meta.complete = true;
          writeMeta();
          return meta;
        },
      };
    },
  };
}
