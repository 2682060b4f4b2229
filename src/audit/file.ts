import { closeSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { chainEvent, GENESIS_HASH } from './chain.js';
import { toUnchainedEvent, type AuditEvent, type AuditInput, type AuditSink } from './sink.js';

const FILE_PATTERN = /^audit-\d{4}-\d{2}-\d{2}\.jsonl$/;

/**
 * Hash-chained JSONL, one file per UTC day. Appends are group-committed: events that
 * arrive while a write is in flight share the next write and fsync, and each `emit`
 * resolves only after the fsync that made it durable.
 */
export function createFileAuditSink(options: { dir: string; now?: () => Date }): AuditSink {
  const now = options.now ?? (() => new Date());
  mkdirSync(options.dir, { recursive: true, mode: 0o700 });
  let head = readChainHead(options.dir);
  let pending: { line: string; day: string; resolve: () => void; reject: (err: Error) => void }[] = [];
  let flushing: Promise<void> | undefined;
  let closed = false;

  const flush = async (): Promise<void> => {
    while (pending.length) {
      const batch = pending;
      pending = [];
      const byDay = new Map<string, string[]>();
      for (const item of batch) byDay.set(item.day, [...(byDay.get(item.day) ?? []), item.line]);
      try {
        for (const [day, lines] of byDay) {
          const fd = openSync(join(options.dir, `audit-${day}.jsonl`), 'a', 0o600);
          try {
            writeSync(fd, lines.join(''));
            fsyncSync(fd);
          } finally {
            closeSync(fd);
          }
        }
        batch.forEach((item) => item.resolve());
      } catch (err) {
        batch.forEach((item) => item.reject(err as Error));
      }
      await new Promise((r) => setImmediate(r));
    }
  };

  return {
    emit(input: AuditInput) {
      if (closed) return Promise.reject(new Error('audit sink is closed'));
      const at = now();
      const event = chainEvent(toUnchainedEvent(input, at), head);
      head = event.hash;
      return new Promise<AuditEvent>((resolve, reject) => {
        pending.push({ line: `${JSON.stringify(event)}\n`, day: at.toISOString().slice(0, 10), resolve: () => resolve(event), reject });
        flushing ??= flush().finally(() => {
          flushing = undefined;
        });
      });
    },
    async close() {
      closed = true;
      await flushing;
    },
  };
}

/** Files of an audit directory in chain order. */
export const auditFiles = (dir: string): string[] =>
  readdirSync(dir)
    .filter((f) => FILE_PATTERN.test(f))
    .sort()
    .map((f) => join(dir, f));

export function readAuditEvents(dir: string): AuditEvent[] {
  return auditFiles(dir).flatMap((file) =>
    readFileSync(file, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as AuditEvent),
  );
}

function readChainHead(dir: string): string {
  const files = auditFiles(dir);
  for (let i = files.length - 1; i >= 0; i--) {
    const lines = readFileSync(files[i], 'utf8').split('\n').filter(Boolean);
    if (lines.length) return (JSON.parse(lines[lines.length - 1]) as AuditEvent).hash;
  }
  return GENESIS_HASH;
}
