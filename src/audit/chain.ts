import { createHash } from 'node:crypto';
import type { AuditEvent } from './sink.js';

export const GENESIS_HASH = '0'.repeat(64);

/**
 * JSON with object keys sorted at every level, so the hash does not depend on key order. Every
 * event is hashed once on the request path (kube.request, app.request, db.query), so this is a
 * plain loop; its output is byte for byte what the first version (entries, filter, sort, map,
 * join) gave, which the chains already written depend on: undefined object members are left out,
 * an array item that has no JSON (undefined) is an empty string between commas.
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  if (Array.isArray(value)) {
    let out = '[';
    for (let i = 0; i < value.length; i++) out += (i ? ',' : '') + (canonicalJson(value[i]) ?? '');
    return `${out}]`;
  }
  const keys = Object.keys(value).sort();
  let out = '{';
  let first = true;
  for (const key of keys) {
    const v = (value as Record<string, unknown>)[key];
    if (v === undefined) continue;
    out += `${first ? '' : ','}${JSON.stringify(key)}:${canonicalJson(v)}`;
    first = false;
  }
  return `${out}}`;
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
