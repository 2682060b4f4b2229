/**
 * Audit queries: the filters every backend understands, their exact meaning, and validation.
 *
 * - `from` (inclusive) and `to` (exclusive): RFC 3339 instants; a date or a date-time without a
 *   zone is UTC.
 * - `types`: exact types (`user.login`) or prefixes (`session.*` = every type under `session.`);
 *   several are OR-ed; `*` is every type.
 * - `user`: the event's `user`, exactly.
 * - `session_id`, `cluster`, `node`, `app`: the event's field, or the same key in `details`.
 * - `outcome`: `success` or `failure`.
 * - `q`: case-insensitive substring of any one value of the event (top-level fields and
 *   `details`, strings, numbers and booleans; not the hashes).
 * Results come in chain order (`asc`) or newest first (`desc`, the default), `limit` at a time;
 * a cursor names a position in the chain, so paging is stable while events are appended.
 */
import { GatehouseError } from '../core/errors.js';
import type { AuditEvent } from './sink.js';

export type AuditOrder = 'asc' | 'desc';

export interface AuditQuery {
  from?: string;
  to?: string;
  types?: string[];
  user?: string;
  session_id?: string;
  cluster?: string;
  node?: string;
  app?: string;
  outcome?: 'success' | 'failure';
  q?: string;
  /** One event by id (detail views). */
  id?: string;
  limit: number;
  cursor?: string;
  order: AuditOrder;
}

export const DEFAULT_LIMIT = 50;
export const MAX_LIMIT = 1000;

/** Fields that may live at the top level or, from older emitters, in `details`. */
export const LOCATED_FIELDS = ['session_id', 'cluster', 'node', 'app'] as const;
export type LocatedField = (typeof LOCATED_FIELDS)[number];

/** The value of session_id/cluster/node/app: the top-level field, else the same key in details. */
export function eventField(event: AuditEvent, field: LocatedField): string | undefined {
  const top = event[field];
  if (typeof top === 'string') return top;
  const nested = event.details?.[field];
  return typeof nested === 'string' ? nested : undefined;
}

/** Separates values in the search text; `q` may not contain it, so a match never spans two values. */
export const SEARCH_SEPARATOR = '\u001f';

/** Every scalar value of the event (not the hashes), lowercased, joined by SEARCH_SEPARATOR. */
export function searchText(event: AuditEvent): string {
  const parts: string[] = [];
  const walk = (value: unknown) => {
    if (typeof value === 'string') parts.push(value);
    else if (typeof value === 'number' || typeof value === 'boolean') parts.push(String(value));
    else if (Array.isArray(value)) value.forEach(walk);
    else if (value && typeof value === 'object') Object.values(value).forEach(walk);
  };
  for (const [key, value] of Object.entries(event)) if (key !== 'hash' && key !== 'prev_hash') walk(value);
  return parts.join(SEARCH_SEPARATOR).toLowerCase();
}

/** `session.*` → `session.`; `*` → ''; an exact type → undefined. */
export const typePrefix = (pattern: string): string | undefined => (pattern === '*' ? '' : pattern.endsWith('.*') ? pattern.slice(0, -1) : undefined);

/** The exact predicate: backends may narrow with indexes or pre-filters, never widen. */
export function compileMatcher(query: AuditQuery): (event: AuditEvent) => boolean {
  const from = query.from ? Date.parse(query.from) : undefined;
  const to = query.to ? Date.parse(query.to) : undefined;
  const exact = new Set<string>();
  const prefixes: string[] = [];
  for (const t of query.types ?? []) {
    const prefix = typePrefix(t);
    if (prefix === undefined) exact.add(t);
    else prefixes.push(prefix);
  }
  const anyType = !query.types?.length;
  const q = query.q?.toLowerCase();
  return (event) => {
    if (query.id !== undefined && event.id !== query.id) return false;
    if (from !== undefined || to !== undefined) {
      const t = Date.parse(event.time);
      if (from !== undefined && !(t >= from)) return false;
      if (to !== undefined && !(t < to)) return false;
    }
    if (!anyType && !exact.has(event.type) && !prefixes.some((p) => event.type.startsWith(p))) return false;
    if (query.user !== undefined && event.user !== query.user) return false;
    if (query.outcome !== undefined && event.outcome !== query.outcome) return false;
    for (const field of LOCATED_FIELDS) {
      if (query[field] !== undefined && eventField(event, field) !== query[field]) return false;
    }
    if (q !== undefined && !searchText(event).includes(q)) return false;
    return true;
  };
}

// --- parsing --------------------------------------------------------------------------------

const invalid = (message: string) => new GatehouseError('invalid_query', message, { status: 400 });

const INSTANT = /^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?)?(?:Z|[+-]\d{2}:\d{2})?$/i;
const TYPE = /^(?:\*|[a-z0-9_]+(?:\.[a-z0-9_]+)*(?:\.\*)?)$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/;

/** An RFC 3339 instant (or a date, or a date-time without zone = UTC) → ISO string. */
export function parseInstant(value: string, name: string): string {
  const text = value.trim();
  if (!INSTANT.test(text)) throw invalid(`${name} must be an RFC 3339 time, e.g. 2026-01-31T17:05:00Z`);
  const withZone = /[T ]/.test(text) && !/(?:Z|[+-]\d{2}:\d{2})$/i.test(text) ? `${text}Z` : text;
  const ms = Date.parse(withZone.replace(' ', 'T'));
  if (Number.isNaN(ms)) throw invalid(`${name} is not a valid time`);
  return new Date(ms).toISOString();
}

const single = (params: Record<string, unknown>, name: string): string | undefined => {
  const value = params[name];
  if (value === undefined || value === '') return undefined;
  if (Array.isArray(value)) {
    if (value.length > 1) throw invalid(`${name} may be given once`);
    return single({ [name]: value[0] }, name);
  }
  if (typeof value !== 'string') throw invalid(`${name} must be a string`);
  return value;
};

const text = (params: Record<string, unknown>, name: string, max = 256): string | undefined => {
  const value = single(params, name);
  if (value === undefined) return undefined;
  if (value.length > max) throw invalid(`${name} is longer than ${max} characters`);
  if (CONTROL.test(value)) throw invalid(`${name} may not contain control characters`);
  return value;
};

/**
 * Validates query-string parameters (strings or repeated strings) into an AuditQuery.
 * `type` may repeat and may hold a comma-separated list. Throws `invalid_query` (400).
 */
export function parseAuditQuery(params: Record<string, unknown>): AuditQuery {
  const query: AuditQuery = { limit: DEFAULT_LIMIT, order: 'desc' };
  const from = single(params, 'from');
  const to = single(params, 'to');
  if (from !== undefined) query.from = parseInstant(from, 'from');
  if (to !== undefined) query.to = parseInstant(to, 'to');
  const rawTypes = params.type === undefined ? [] : Array.isArray(params.type) ? params.type : [params.type];
  const types = rawTypes
    .flatMap((t) => String(t).split(','))
    .map((t) => t.trim())
    .filter(Boolean);
  if (types.length > 20) throw invalid('at most 20 types');
  for (const t of types) if (!TYPE.test(t)) throw invalid(`type "${t.slice(0, 64)}" is not a type (user.login) or a prefix (session.*)`);
  if (types.length) query.types = [...new Set(types)];
  for (const name of ['user', 'session_id', 'cluster', 'node', 'app'] as const) {
    const value = text(params, name);
    if (value !== undefined) query[name] = value;
  }
  const outcome = single(params, 'outcome');
  if (outcome !== undefined) {
    if (outcome !== 'success' && outcome !== 'failure') throw invalid('outcome must be success or failure');
    query.outcome = outcome;
  }
  const q = text(params, 'q');
  if (q !== undefined && q.trim()) query.q = q.trim();
  const id = single(params, 'id');
  if (id !== undefined) {
    if (!UUID.test(id)) throw invalid('id must be an event id (UUID)');
    query.id = id.toLowerCase();
  }
  const limit = single(params, 'limit');
  if (limit !== undefined) {
    if (!/^\d{1,7}$/.test(limit) || Number(limit) < 1 || Number(limit) > MAX_LIMIT) throw invalid(`limit must be 1 to ${MAX_LIMIT}`);
    query.limit = Number(limit);
  }
  const order = single(params, 'order');
  if (order !== undefined) {
    if (order !== 'asc' && order !== 'desc') throw invalid('order must be asc or desc');
    query.order = order;
  }
  const cursor = single(params, 'cursor');
  if (cursor !== undefined) {
    if (!/^[A-Za-z0-9_-]{1,200}$/.test(cursor)) throw invalid('cursor is malformed');
    query.cursor = cursor;
  }
  if (query.from && query.to && Date.parse(query.from) > Date.parse(query.to)) throw invalid('from is after to');
  return query;
}

/** The query as URL parameters (what the CLI and the page's links send). */
export function queryToParams(query: Partial<AuditQuery>): URLSearchParams {
  const params = new URLSearchParams();
  for (const key of ['from', 'to', 'user', 'session_id', 'cluster', 'node', 'app', 'outcome', 'q', 'id', 'order', 'cursor'] as const) {
    const value = query[key];
    if (value !== undefined) params.set(key, value);
  }
  for (const t of query.types ?? []) params.append('type', t);
  if (query.limit !== undefined) params.set('limit', String(query.limit));
  return params;
}

// --- cursors --------------------------------------------------------------------------------

/** Cursors are opaque to clients: base64url of a backend-specific position. */
export const encodeCursor = (position: string): string => Buffer.from(position, 'utf8').toString('base64url');

export function decodeCursor(cursor: string, pattern: RegExp): RegExpExecArray {
  const match = pattern.exec(Buffer.from(cursor, 'base64url').toString('utf8'));
  if (!match) throw new GatehouseError('invalid_cursor', 'The cursor does not belong to this audit log; start again without it.', { status: 400 });
  return match;
}
