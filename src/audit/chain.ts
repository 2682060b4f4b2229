import { createHash } from 'node:crypto';
import type { AuditEvent } from './sink.js';

export const GENESIS_HASH = '0'.repeat(64);

/** JSON with object keys sorted at every level, so the hash does not depend on key order. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/** hash = SHA-256 over the canonical JSON of the event including prev_hash, excluding hash. */
export function chainEvent(event: Omit<AuditEvent, 'prev_hash' | 'hash'>, prevHash: string): AuditEvent {
  const withPrev = { ...event, prev_hash: prevHash };
  const hash = createHash('sha256').update(canonicalJson(withPrev)).digest('hex');
  return { ...withPrev, hash };
}

/** Chains events in order, the first after `prevHash`. */
export function chainEvents(events: Omit<AuditEvent, 'prev_hash' | 'hash'>[], prevHash: string): AuditEvent[] {
  let prev = prevHash;
  return events.map((e) => {
    const event = chainEvent(e, prev);
    prev = event.hash;
    return event;
  });
}

/** Returns the index of the first event that breaks the chain, or -1 when it is intact. */
export function findChainBreak(events: AuditEvent[], startHash = GENESIS_HASH): number {
  let prev = startHash;
  for (let i = 0; i < events.length; i++) {
    const { hash, ...rest } = events[i];
    if (rest.prev_hash !== prev || chainEvent(rest, rest.prev_hash).hash !== hash) return i;
    prev = hash;
  }
  return -1;
}
