import type { AuditQuery } from './query.js';
import type { AuditEvent, AuditSink } from './sink.js';
import type { VerifyResult } from './verify.js';

/** An event with its position in the chain, as a cursor (resume strictly after/before it). */
export interface Positioned {
  event: AuditEvent;
  cursor: string;
}

export interface AuditPage {
  events: AuditEvent[];
  /** Resume after the last event of this page (null when the page is empty). */
  next_cursor: string | null;
  /** The position of the first event of this page (e.g. newest, for `tail -f` to continue from). */
  first_cursor: string | null;
  /** More events match beyond this page. */
  has_more: boolean;
}

/** Reading the audit log: server-side filtering, stable cursors, verification. */
export interface AuditReader {
  /** Every matching event from the cursor on, in the query's order (limit is ignored). */
  scan(query: AuditQuery): AsyncIterable<Positioned>;
  /** One page of at most `query.limit` events. */
  query(query: AuditQuery): Promise<AuditPage>;
  /** Walks the whole chain and reports OK or the first event that breaks it. */
  verify(): Promise<VerifyResult>;
}

export interface AuditStatus {
  /** Events can be recorded durably right now (directly or through the spool). */
  ready: boolean;
  /** `ok`, or what is degraded or wrong. */
  detail: string;
  /** Events waiting in the local spool for the backend to return. */
  spooled?: number;
}

/** A complete audit backend: what capabilities emit through, plus reading and health. */
export interface AuditBackend extends AuditSink, AuditReader {
  readonly kind: 'file' | 'postgres';
  status(): Promise<AuditStatus>;
  /** Removes events older than the retention (recording an `audit.pruned` event first). */
  prune(): Promise<void>;
}

/** A page from a scan: takes limit + 1 to learn whether more exist. */
export async function pageOf(scan: AsyncIterable<Positioned>, limit: number): Promise<AuditPage> {
  const events: AuditEvent[] = [];
  let first: string | null = null;
  let last: string | null = null;
  let hasMore = false;
  for await (const item of scan) {
    if (events.length === limit) {
      hasMore = true;
      break;
    }
    events.push(item.event);
    first ??= item.cursor;
    last = item.cursor;
  }
  return { events, next_cursor: last, first_cursor: first, has_more: hasMore };
}
