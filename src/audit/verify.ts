/**
 * Chain verification, one event at a time (so a backend can stream millions of events).
 *
 * Checks, in chain order:
 * - every stored record parses and is an event (`unparseable`);
 * - `hash` is the SHA-256 of the event's canonical JSON with its `prev_hash` (`hash_mismatch`:
 *   the event was altered);
 * - `prev_hash` equals the previous event's `hash` (`prev_hash_mismatch`: an event before it was
 *   removed, events were reordered, or this one was altered);
 * - the first event's `prev_hash` is the genesis hash, or the `anchor` of an `audit.pruned` event
 *   in the chain (retention removed what came before; `unanchored_start`: events were removed
 *   from the start without a retention record);
 * - backend-specific consistency (e.g. PostgreSQL's index columns agree with the stored event).
 * The first failure is reported with the event's id and where it is stored.
 */
import { chainEvent, GENESIS_HASH } from './chain.js';
import type { AuditEvent } from './sink.js';

export type ChainBreakReason = 'unparseable' | 'hash_mismatch' | 'prev_hash_mismatch' | 'unanchored_start' | 'index_mismatch';

export interface ChainBreak {
  reason: ChainBreakReason;
  /** The event that breaks the chain (from its record, or the store's id column). */
  id?: string;
  /** 0-based position in the chain as read. */
  index: number;
  /** Where it is stored: `audit-2026-01-31.jsonl:17` or `seq 42`. */
  location: string;
  message: string;
  expected?: string;
  actual?: string;
}

export interface VerifyResult {
  ok: boolean;
  /** Events read (up to and including a break). */
  events: number;
  /** The prev_hash of the first event: genesis, or the anchor left by retention. */
  anchor: string;
  /** The hash of the last event read: the chain head when ok. */
  head: string;
  first_time?: string;
  last_time?: string;
  break?: ChainBreak;
}

const MESSAGES: Record<ChainBreakReason, string> = {
  unparseable: 'the stored record is not a readable event',
  hash_mismatch: 'the event was altered: its hash does not match its content',
  prev_hash_mismatch: 'an event before this one is missing, events were reordered, or this event was altered',
  unanchored_start: 'the chain starts mid-way and no audit.pruned event explains it: events were removed from the start',
  index_mismatch: 'the stored index columns disagree with the event',
};

export interface ChainVerifier {
  /** Feeds the next record; returns the break (and stops accepting) or undefined. */
  add(record: AuditEvent | undefined, location: string, fallbackId?: string): ChainBreak | undefined;
  /** Reports a store-level inconsistency for the current record. */
  fail(reason: ChainBreakReason, location: string, id: string | undefined, detail?: string): ChainBreak;
  finish(): VerifyResult;
}

/** A stored record as JSON, or undefined when it does not parse (the verifier reports it as `unparseable`). */
export function parseRecord(text: string): AuditEvent | undefined {
  try {
    return JSON.parse(text) as AuditEvent;
  } catch {
    return undefined;
  }
}

export function createChainVerifier(): ChainVerifier {
  let index = 0;
  let prev: string | undefined;
  let anchor = GENESIS_HASH;
  let firstId: string | undefined;
  let firstLocation = 'start of the chain';
  let firstTime: string | undefined;
  let lastTime: string | undefined;
  const prunedAnchors = new Set<string>();
  let broken: ChainBreak | undefined;

  const fail = (reason: ChainBreakReason, location: string, id: string | undefined, extra: Partial<ChainBreak> = {}): ChainBreak => {
    broken ??= { reason, id, index, location, message: MESSAGES[reason], ...extra };
    return broken;
  };

  return {
    add(record, location, fallbackId) {
      if (broken) return broken;
      if (!record || typeof record !== 'object' || typeof record.hash !== 'string' || typeof record.prev_hash !== 'string') {
        return fail('unparseable', location, fallbackId);
      }
      const { hash, ...rest } = record;
      if (prev === undefined) {
        anchor = rest.prev_hash;
        firstId = record.id;
        firstLocation = location;
        firstTime = record.time;
      } else if (rest.prev_hash !== prev) {
        return fail('prev_hash_mismatch', location, record.id ?? fallbackId, { expected: prev, actual: rest.prev_hash });
      }
      const computed = chainEvent(rest, rest.prev_hash).hash;
      if (computed !== hash) return fail('hash_mismatch', location, record.id ?? fallbackId, { expected: computed, actual: hash });
      if (record.type === 'audit.pruned' && typeof record.details?.anchor === 'string') prunedAnchors.add(record.details.anchor);
      prev = hash;
      lastTime = record.time;
      index++;
      return undefined;
    },
    fail(reason, location, id, detail) {
      return fail(reason, location, id, detail ? { message: `${MESSAGES[reason]}: ${detail}` } : {});
    },
    finish() {
      if (!broken && prev !== undefined && anchor !== GENESIS_HASH && !prunedAnchors.has(anchor)) {
        index = 0;
        fail('unanchored_start', firstLocation, firstId, { actual: anchor });
      }
      return {
        ok: !broken,
        events: broken ? broken.index + 1 : index,
        anchor,
        head: prev ?? GENESIS_HASH,
        first_time: firstTime,
        last_time: lastTime,
        break: broken,
      };
    },
  };
}
