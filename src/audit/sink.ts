import { randomUUID } from 'node:crypto';
import type { RequestContext } from '../core/types.js';
import { auditCode, type AuditEventType, type AuditOutcome } from './catalogue.js';

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

/** The event before chaining: common fields filled in, undefined fields dropped. */
export function toUnchainedEvent(input: AuditInput, now: Date = new Date()): Omit<AuditEvent, 'prev_hash' | 'hash'> {
  const event = {
    id: randomUUID(),
    time: now.toISOString(),
    type: input.type,
    code: auditCode(input.type, input.outcome),
    outcome: input.outcome,
    user: input.user,
    connector: input.connector,
    roles: input.roles,
    remote_addr: input.context?.remoteAddr,
    user_agent: input.context?.userAgent,
    request_id: input.context?.requestId,
    session_id: input.session_id,
    cluster: input.cluster,
    node: input.node,
    app: input.app,
    reason: input.reason,
    details: input.details,
  };
  return jsonCopy(event);
}

/** Thrown by the fast path of jsonCopy at anything that is not plain data. */
const NOT_PLAIN = Symbol('not plain');

/**
 * `JSON.parse(JSON.stringify(value))`, which an event goes through so that what is hashed is what
 * is stored (undefined members dropped, non-finite numbers null). Events are emitted on request
 * paths, so plain data (objects, arrays, strings, finite numbers, booleans, null) is copied
 * directly, with the same result; anything else (a toJSON, a class instance, a bigint, depth
 * past 32) takes the round trip itself.
 */
function jsonCopy<T>(value: T): T {
  try {
    return plainCopy(value, 0) as T;
  } catch (err) {
    if (err !== NOT_PLAIN) throw err;
    return JSON.parse(JSON.stringify(value)) as T;
  }
}

function plainCopy(value: unknown, depth: number): unknown {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return value;
    case 'number':
      return Number.isFinite(value) ? value || 0 : null; // -0 becomes 0, NaN and ±Infinity null, as in JSON
    case 'object': {
      if (value === null) return null;
      if (depth > 32) throw NOT_PLAIN;
      if (Array.isArray(value)) {
        if (Object.getPrototypeOf(value) !== Array.prototype || 'toJSON' in value) throw NOT_PLAIN;
        const out: unknown[] = new Array(value.length);
        for (let i = 0; i < value.length; i++) {
          const item: unknown = value[i];
          out[i] = item === undefined || typeof item === 'function' || typeof item === 'symbol' ? null : plainCopy(item, depth + 1);
        }
        return out;
      }
      const proto: unknown = Object.getPrototypeOf(value);
      if ((proto !== Object.prototype && proto !== null) || typeof (value as { toJSON?: unknown }).toJSON === 'function') throw NOT_PLAIN;
      const out: Record<string, unknown> = {};
      for (const key of Object.keys(value)) {
        if (key === '__proto__') throw NOT_PLAIN; // an own "__proto__" stays a member only through JSON.parse
        const item = (value as Record<string, unknown>)[key];
        if (item === undefined || typeof item === 'function' || typeof item === 'symbol') continue;
        out[key] = plainCopy(item, depth + 1);
      }
      return out;
    }
    default:
      throw NOT_PLAIN; // undefined at the top, bigint, function, symbol: as JSON has it
  }
}

/** An event returned before it has a chain position: waiting in a spool, or not stored (`on_failure: log`). */
export const withoutChain = (event: Omit<AuditEvent, 'prev_hash' | 'hash'>): AuditEvent => ({ ...event, prev_hash: '', hash: '' });
