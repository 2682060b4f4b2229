import { unlink } from 'node:fs/promises';
import { basename } from 'node:path';
import type { Logger } from '../../core/logger.js';
import type { AuditEvent, AuditInput } from '../sink.js';
import { auditFiles, dayOf } from './layout.js';
import { lastEventOf } from './recovery.js';

/**
 * Removes whole day files older than the retention, after an `audit.pruned` event records
 * (durably) the hash they ended with: verification's new anchor.
 */
export async function pruneDayFiles(options: {
  dir: string;
  retentionMs: number;
  nowMs: number;
  emit: (input: AuditInput) => Promise<AuditEvent>;
  logger?: Logger;
}): Promise<void> {
  const { dir, retentionMs, logger } = options;
  const cutoffDay = dayOf(options.nowMs - retentionMs);
  const old = auditFiles(dir).filter((f) => basename(f).slice(6, 16) < cutoffDay);
  if (!old.length) return;
  let anchor: string | undefined;
  for (let i = old.length - 1; i >= 0 && !anchor; i--) anchor = lastEventOf(old[i])?.hash;
  if (anchor) {
    // Recorded (durably) before anything is removed: verification starts from this anchor.
    await options.emit({
      type: 'audit.pruned',
      outcome: 'success',
      details: { files: old.map((f) => basename(f)), before: cutoffDay, anchor, retention_ms: retentionMs },
    });
  }
  for (const file of old) await unlink(file).catch((err) => logger?.warn({ err, file }, 'audit retention: cannot remove file'));
}
