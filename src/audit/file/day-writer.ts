/**
 * Appends chained events to their UTC day files, fsync'd (and the directory too, for a new file).
 * A failed write is rolled back (the file truncated to its size before), so the chain never has
 * a hole and the next line never follows garbage.
 */
import { existsSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { eventLine } from '../chain.js';
import { syncDir, writeDurably } from '../durable.js';
import type { AuditEvent } from '../sink.js';
import { fileName } from './layout.js';

export interface DayFileWriter {
  /** Writes events in chain order; returns how many are durable and, if it stopped early, why. */
  write(chained: AuditEvent[]): Promise<{ written: number; error?: unknown }>;
  close(): Promise<void>;
}

export function createDayFileWriter(dir: string): DayFileWriter {
  let current: { day: string; fh: FileHandle; size: number } | undefined;

  const openDay = async (day: string) => {
    if (current?.day === day) return current;
    await current?.fh.close();
    current = undefined;
    const path = join(dir, fileName(day));
    const created = !existsSync(path);
    const fh = await open(path, 'a', 0o600);
    if (created) await syncDir(dir);
    current = { day, fh, size: (await fh.stat()).size };
    return current;
  };

  return {
    async write(chained) {
      // Consecutive runs per day, in chain order.
      const runs: { day: string; text: string; end: number }[] = [];
      chained.forEach((event, i) => {
        const day = event.time.slice(0, 10);
        const line = `${eventLine(event)}\n`;
        const run = runs.at(-1);
        if (run?.day === day) {
          run.text += line;
          run.end = i + 1;
        } else runs.push({ day, text: line, end: i + 1 });
      });
      let written = 0;
      for (const run of runs) {
        let before = 0;
        try {
          const file = await openDay(run.day);
          before = file.size;
          const bytes = Buffer.from(run.text);
          await writeDurably(file.fh, bytes, before);
          file.size = before + bytes.length;
        } catch (error) {
          await current?.fh.truncate(before).catch(() => undefined);
          await current?.fh.close().catch(() => undefined);
          current = undefined;
          return { written, error };
        }
        written = run.end;
      }
      return { written };
    },
    async close() {
      await current?.fh.close();
      current = undefined;
    },
  };
}
