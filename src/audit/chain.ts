import { createHash } from 'node:crypto';
import type { AuditEvent } from './sink.js';

export const GENESIS_HASH = '0'.repeat(64);

/** Copies whose JSON.stringify is their canonical JSON (plain data, keys sorted, none that JSON orders first). */
const canonicalCopies = new WeakSet<object>();
/** Chained events made from a canonical copy, and their line. */
const lines = new WeakMap<object, string>();

/**
 * JSON with object keys sorted at every level, so the hash does not depend on key order. Events
 * from `canonicalCopy` skip it (their JSON.stringify is this); it hashes the rest and verifies
 * stored events. Its output is byte for byte what the first version (entries, filter, sort, map,
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

/**
 * hash = SHA-256 over the canonical JSON of the event including prev_hash, excluding hash. An
 * event made by `canonicalCopy` is already in canonical key order, so its canonical JSON is
 * `JSON.stringify` (native), and that text is also its stored line (`eventLine`).
 */
export function chainEvent(event: Omit<AuditEvent, 'prev_hash' | 'hash'>, prevHash: string): AuditEvent {
  if (!canonicalCopies.has(event)) {
    const withPrev = { ...event, prev_hash: prevHash };
    const hash = createHash('sha256').update(canonicalJson(withPrev)).digest('hex');
    return { ...withPrev, hash };
  }
  // prev_hash in its sorted place among the top-level keys.
  const chained: Record<string, unknown> = {};
  let placed = false;
  for (const key of Object.keys(event)) {
    if (!placed && key > 'prev_hash') {
      chained.prev_hash = prevHash;
      placed = true;
    }
    chained[key] = (event as Record<string, unknown>)[key];
  }
  if (!placed) chained.prev_hash = prevHash;
  const text = JSON.stringify(chained);
  const hash = createHash('sha256').update(text).digest('hex');
  chained.hash = hash;
  lines.set(chained, `${text.slice(0, -1)},"hash":"${hash}"}`);
  return chained as unknown as AuditEvent;
}

/** The stored JSON line of a chained event (without the newline): the text its hash was taken over, with the hash. */
export const eventLine = (event: AuditEvent): string => lines.get(event) ?? JSON.stringify(event);

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

/** Thrown by the fast path of canonicalCopy at anything that is not plain data. */
const NOT_PLAIN = Symbol('not plain');

/**
 * `JSON.parse(JSON.stringify(value))`, which an event goes through so that what is hashed is what
 * is stored (undefined members dropped, non-finite numbers null). Events are emitted on request
 * paths, so plain data (objects, arrays, strings, finite numbers, booleans, null) is copied
 * directly with its object keys in sorted order, which makes JSON.stringify of the copy its
 * canonical JSON; unless a key starts with a digit (JSON puts integer-like keys first), the copy
 * is registered as canonical for `chainEvent`. Anything else (a toJSON, a class instance, a
 * bigint, depth past 32) takes the round trip itself and is hashed the general way.
 */
export function canonicalCopy<T>(value: T): T {
  const state = { canonical: true };
  try {
    const copy = plainCopy(value, 0, state) as T;
    if (state.canonical && typeof copy === 'object' && copy !== null) canonicalCopies.add(copy);
    return copy;
  } catch (err) {
    if (err !== NOT_PLAIN) throw err;
    return JSON.parse(JSON.stringify(value)) as T;
  }
}

function plainCopy(value: unknown, depth: number, state: { canonical: boolean }): unknown {
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
          out[i] = item === undefined || typeof item === 'function' || typeof item === 'symbol' ? null : plainCopy(item, depth + 1, state);
        }
        return out;
      }
      const proto: unknown = Object.getPrototypeOf(value);
      if ((proto !== Object.prototype && proto !== null) || typeof (value as { toJSON?: unknown }).toJSON === 'function') throw NOT_PLAIN;
      const out: Record<string, unknown> = {};
      for (const key of Object.keys(value).sort()) {
        if (key === '__proto__') throw NOT_PLAIN; // an own "__proto__" stays a member only through JSON.parse
        const item = (value as Record<string, unknown>)[key];
        if (item === undefined || typeof item === 'function' || typeof item === 'symbol') continue;
        const first = key.charCodeAt(0);
        if (first >= 48 && first <= 57) state.canonical = false;
        out[key] = plainCopy(item, depth + 1, state);
      }
      return out;
    }
    default:
      throw NOT_PLAIN; // undefined at the top, bigint, function, symbol: as JSON has it
  }
}
