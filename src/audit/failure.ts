import { GatehouseError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { withoutChain, type AuditEvent } from './sink.js';

/**
 * What happens when an event cannot be stored anywhere (backend and spool both failed):
 * `refuse` (default) rejects the emit, so the action that needed auditing fails closed;
 * `log` writes the whole event to the operator log at error level and lets the action proceed.
 */
export type AuditFailurePolicy = 'refuse' | 'log';

export const auditUnavailable = (cause?: unknown) =>
  new GatehouseError('audit_unavailable', 'This action cannot be recorded in the audit log right now, so it was refused.', {
    status: 503,
    expose: true,
    cause,
  });

export interface PendingEmit {
  event: Omit<AuditEvent, 'prev_hash' | 'hash'>;
  resolve(event: AuditEvent): void;
  reject(err: Error): void;
}

/** Settles emits whose events could not be stored, according to the policy. */
export function settleUnstored(items: PendingEmit[], err: unknown, policy: AuditFailurePolicy, logger?: Logger): void {
  for (const item of items) {
    if (policy === 'log') {
      logger?.error({ err, audit_event: item.event }, 'audit event NOT stored (audit.on_failure: log)');
      item.resolve(withoutChain(item.event));
    } else {
      item.reject(auditUnavailable(err));
    }
  }
  if (policy === 'refuse') logger?.error({ err, events: items.length }, 'audit write failed; the actions were refused');
}
