/**
 * Reading the PostgreSQL backend: SQL narrows a query with the index columns and the shared
 * matcher confirms; a cursor is a `seq`. Verification recomputes every hash from `doc` and checks
 * that the index columns agree with it.
 */
import { GatehouseError } from '../../core/errors.js';
import { compileMatcher, decodeCursor, encodeCursor, typePrefix, type AuditQuery } from '../query.js';
import type { Positioned } from '../reader.js';
import type { AuditEvent } from '../sink.js';
import { createChainVerifier, parseRecord, type VerifyResult } from '../verify.js';
import type { AuditDatabase } from './database.js';
import { indexColumns } from './schema.js';

const CURSOR = /^s:(\d{1,18})$/;
const likeEscape = (text: string) => text.replace(/[\\%_]/g, (c) => `\\${c}`);

const unavailable = (err: unknown) =>
  new GatehouseError('audit_unavailable', 'The audit database cannot be reached right now; try again shortly.', { status: 503, cause: err });

async function schemaOrUnavailable(db: AuditDatabase): Promise<void> {
  try {
    await db.ensureSchema();
  } catch (err) {
    throw unavailable(err);
  }
}

/** The WHERE conditions of a query (without the cursor) and their parameters. */
function conditionsOf(query: AuditQuery): { where: string[]; params: unknown[] } {
  const where: string[] = [];
  const params: unknown[] = [];
  const param = (value: unknown) => `$${params.push(value)}`;
  if (query.from) where.push(`time >= ${param(query.from)}::timestamptz`);
  if (query.to) where.push(`time < ${param(query.to)}::timestamptz`);
  if (query.types?.length) {
    const exact: string[] = [];
    const alternatives: string[] = [];
    for (const t of query.types) {
      const prefix = typePrefix(t);
      if (prefix === undefined) exact.push(t);
      else if (prefix === '') alternatives.push('true');
      else {
        const upper = prefix.slice(0, -1) + String.fromCharCode(prefix.charCodeAt(prefix.length - 1) + 1);
        alternatives.push(`(type >= ${param(prefix)} AND type < ${param(upper)})`);
      }
    }
    if (exact.length) alternatives.push(`type = ANY(${param(exact)}::text[])`);
    where.push(`(${alternatives.join(' OR ')})`);
  }
  if (query.user !== undefined) where.push(`"user" = ${param(query.user)}`);
  if (query.outcome !== undefined) where.push(`outcome = ${param(query.outcome)}`);
  for (const name of ['session_id', 'cluster', 'node', 'app'] as const) {
    if (query[name] !== undefined) where.push(`${name} = ${param(query[name])}`);
  }
  if (query.q !== undefined) where.push(`search LIKE ${param(`%${likeEscape(query.q.toLowerCase())}%`)} ESCAPE '\\'`);
  if (query.id !== undefined) where.push(`id = ${param(query.id)}::uuid`);
  return { where, params };
}

/** Every matching event from the cursor on, `batchSize` rows for the first round trip, then 1000. */
export async function* scanTable(db: AuditDatabase, query: AuditQuery, batchSize = 1000): AsyncGenerator<Positioned> {
  const { where, params } = conditionsOf(query);
  const asc = query.order === 'asc';
  let after: string | undefined = query.cursor ? decodeCursor(query.cursor, CURSOR)[1] : undefined;
  // The SQL narrows; the shared matcher confirms (no backend may return more than the definition).
  const match = compileMatcher(query);
  await schemaOrUnavailable(db);
  for (;;) {
    const conditions = [...where];
    const batchParams = [...params];
    if (after !== undefined) conditions.push(`seq ${asc ? '>' : '<'} $${batchParams.push(after)}::bigint`);
    const sql = `SELECT seq, doc FROM ${db.table} ${conditions.length ? `WHERE ${conditions.join(' AND ')}` : ''}
                 ORDER BY seq ${asc ? 'ASC' : 'DESC'} LIMIT ${batchSize}`;
    let rows: { seq: string; doc: string }[];
    try {
      ({ rows } = await db.pool.query<{ seq: string; doc: string }>(sql, batchParams));
    } catch (err) {
      throw unavailable(err);
    }
    for (const row of rows) {
      const event = JSON.parse(row.doc) as AuditEvent;
      if (match(event)) yield { event, cursor: encodeCursor(`s:${row.seq}`) };
    }
    if (rows.length < batchSize) return;
    after = rows[rows.length - 1].seq;
    batchSize = 1000;
  }
}

export async function verifyTable(db: AuditDatabase): Promise<VerifyResult> {
  await schemaOrUnavailable(db);
  const verifier = createChainVerifier();
  let after = '0';
  for (;;) {
    const { rows } = await db.pool
      .query(
        `SELECT seq, id, time, type, outcome, "user", session_id, cluster, node, app, search, hash, doc
           FROM ${db.table} WHERE seq > $1::bigint ORDER BY seq LIMIT 5000`,
        [after],
      )
      .catch((err) => {
        throw unavailable(err);
      });
    for (const row of rows) {
      const location = `seq ${row.seq}`;
      const event = parseRecord(row.doc);
      if (verifier.add(event, location, row.id)) return verifier.finish();
      const expected = indexColumns(event!);
      const mismatched = Object.entries(expected).find(([key, value]) =>
        key === 'time' ? (row.time as Date).getTime() !== Date.parse(value as string) : (row[key] ?? null) !== value,
      );
      if (mismatched) {
        verifier.fail('index_mismatch', location, event!.id, `column "${mismatched[0]}"`);
        return verifier.finish();
      }
    }
    if (rows.length < 5000) return verifier.finish();
    after = rows[rows.length - 1].seq;
  }
}
