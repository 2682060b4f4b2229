/**
 * The PostgreSQL table: versioned migrations, applied at start under an advisory lock so replicas
 * do not race, and the index columns derived from each event (stored, and re-derived by verify).
 */
import type { PoolClient } from 'pg';
import type { Logger } from '../../core/logger.js';
import { eventField, searchText } from '../query.js';
import type { AuditEvent } from '../sink.js';

/** Versioned migrations; `S` is the quoted schema. Append, never edit. */
export const MIGRATIONS: ((S: string) => string[])[] = [
  (S) => [
    `CREATE TABLE ${S}.audit_events (
      seq bigint PRIMARY KEY,
      id uuid NOT NULL,
      time timestamptz NOT NULL,
      type text COLLATE "C" NOT NULL,
      outcome text NOT NULL,
      "user" text,
      session_id text,
      cluster text,
      node text,
      app text,
      search text COLLATE "C" NOT NULL,
      hash text NOT NULL,
      doc text NOT NULL
    )`,
    `CREATE UNIQUE INDEX audit_events_id ON ${S}.audit_events (id)`,
    `CREATE INDEX audit_events_time ON ${S}.audit_events (time, seq)`,
    `CREATE INDEX audit_events_type ON ${S}.audit_events (type, seq)`,
    `CREATE INDEX audit_events_user ON ${S}.audit_events ("user", seq)`,
    `CREATE INDEX audit_events_session ON ${S}.audit_events (session_id, seq) WHERE session_id IS NOT NULL`,
    `CREATE INDEX audit_events_cluster ON ${S}.audit_events (cluster, seq) WHERE cluster IS NOT NULL`,
    `CREATE INDEX audit_events_node ON ${S}.audit_events (node, seq) WHERE node IS NOT NULL`,
    `CREATE INDEX audit_events_app ON ${S}.audit_events (app, seq) WHERE app IS NOT NULL`,
  ],
];

const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

/** The schema name quoted for SQL; throws on a name that is not a plain identifier. */
export function quoteSchema(schema: string): string {
  if (!SCHEMA_NAME.test(schema)) throw new Error(`invalid audit schema name "${schema}"`);
  return `"${schema}"`;
}

/** Brings the schema to the latest version; runs inside the caller's transaction. */
export async function migrate(client: PoolClient, schema: string, logger?: Logger): Promise<void> {
  const S = quoteSchema(schema);
  await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`gatehouse-audit-migrate:${schema}`]);
  await client.query(`CREATE SCHEMA IF NOT EXISTS ${S}`);
  await client.query(`CREATE TABLE IF NOT EXISTS ${S}.audit_migrations (version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`);
  const { rows } = await client.query<{ v: number }>(`SELECT coalesce(max(version), 0)::int AS v FROM ${S}.audit_migrations`);
  for (let v = rows[0].v; v < MIGRATIONS.length; v++) {
    for (const sql of MIGRATIONS[v](S)) await client.query(sql);
    await client.query(`INSERT INTO ${S}.audit_migrations (version) VALUES ($1)`, [v + 1]);
    logger?.info({ schema, version: v + 1 }, 'audit: PostgreSQL schema migrated');
  }
}

/** PostgreSQL text cannot hold NUL; index columns carry U+001F instead (filters never contain control characters). */
const clean = (value: string | undefined): string | null => (value === undefined ? null : value.replaceAll('\u0000', '\u001f'));

/** The index columns of an event, derived from it alone (stored, and re-derived by verify). */
export function indexColumns(event: AuditEvent) {
  return {
    id: event.id,
    time: event.time,
    type: clean(event.type)!,
    outcome: event.outcome,
    user: clean(event.user),
    session_id: clean(eventField(event, 'session_id')),
    cluster: clean(eventField(event, 'cluster')),
    node: clean(eventField(event, 'node')),
    app: clean(eventField(event, 'app')),
    search: clean(searchText(event))!,
    hash: event.hash,
  };
}
