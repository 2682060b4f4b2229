import { randomUUID } from 'node:crypto';
import type { RequestContext } from '../core/types.js';
import { auditCode, type AuditEventType, type AuditOutcome } from './catalogue.js';
import { canonicalCopy } from './chain.js';

/** What a capability hands to the audit log. */
export interface AuditInput {
  type: AuditEventType;
  outcome: AuditOutcome;
  user?: string;
  connector?: string;
  roles?: string[];
  session_id?: string;
  /** Where they apply: the Kubernetes cluster, SSH node or HTTP app involved (searchable). */
  cluster?: string;
  node?: string;
  app?: string;
  reason?: string;
  /** Type-specific fields (documented per type in docs/audit-events.md). */
  details?: Record<string, unknown>;
  context?: RequestContext;
}

/** A stored event: common fields, chained by hash to the one before it. */
export interface AuditEvent {
  id: string;
  time: string;
  type: AuditEventType;
  code: string;
  outcome: AuditOutcome;
  user?: string;
  connector?: string;
  roles?: string[];
  remote_addr?: string;
  user_agent?: string;
  request_id?: string;
  session_id?: string;
  cluster?: string;
  node?: string;
  app?: string;
  reason?: string;
  details?: Record<string, unknown>;
  /** Empty only on an event returned while it waits in a spool: its chain position is assigned when stored. */
  prev_hash: string;
  hash: string;
}

/**
 * The one interface every capability emits through. `emit` resolves once the event is
 * durable; a rejection means it was not recorded and the caller must fail closed.
 */
export interface AuditSink {
  emit(input: AuditInput): Promise<AuditEvent>;
  close(): Promise<void>;
}

/** Logs a failed write instead of throwing; the narrow logger every caller already has. */
export interface AuditFailureLogger {
  error(obj: object, msg: string): void;
}

/**
 * Emit for events whose loss must not change the outcome (a denial already decided, a
 * rejection, a session end): a failed write is logged and never thrown. Events that gate an
 * action await `audit.emit` itself and fail closed.
 */
export function bestEffort(audit: AuditSink, logger: AuditFailureLogger): (input: AuditInput) => Promise<void> {
  return (input) =>
    audit.emit(input).then(
      () => undefined,
      (err: unknown) => logger.error({ err, type: input.type }, 'audit write failed'),
    );
}

/** The event before chaining: common fields filled in, undefined fields dropped (keys in sorted order, see canonicalCopy). */
export function toUnchainedEvent(input: AuditInput, now: Date = new Date()): Omit<AuditEvent, 'prev_hash' | 'hash'> {
  const event = {
    app: input.app,
    cluster: input.cluster,
    code: auditCode(input.type, input.outcome),
    connector: input.connector,
    details: input.details,
    id: randomUUID(),
    node: input.node,
    outcome: input.outcome,
    reason: input.reason,
    remote_addr: input.context?.remoteAddr,
    request_id: input.context?.requestId,
    roles: input.roles,
    session_id: input.session_id,
    time: now.toISOString(),
    type: input.type,
    user: input.user,
    user_agent: input.context?.userAgent,
  };
  return canonicalCopy(event);
}

/** An event returned before it has a chain position: waiting in a spool, or not stored (`on_failure: log`). */
export const withoutChain = (event: Omit<AuditEvent, 'prev_hash' | 'hash'>): AuditEvent => ({ ...event, prev_hash: '', hash: '' });
