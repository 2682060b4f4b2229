/**
 * The connection pool and the table it holds: transactions that drop a connection that may be
 * broken, and the schema migrated once (retried on the next use after a failure).
 */
import pg from 'pg';
import type { Logger } from '../../core/logger.js';
import { migrate, quoteSchema } from './schema.js';

export interface AuditDatabase {
  readonly pool: pg.Pool;
  readonly schema: string;
  /** The quoted events table. */
  readonly table: string;
  ensureSchema(): Promise<void>;
  transaction<R>(work: (client: pg.PoolClient) => Promise<R>): Promise<R>;
  end(): Promise<void>;
}

export function openAuditDatabase(options: { url: string; schema: string; poolSize?: number; logger?: Logger }): AuditDatabase {
  const { schema, logger } = options;
  const table = `${quoteSchema(schema)}.audit_events`;
  const pool = new pg.Pool({
    connectionString: options.url,
    max: options.poolSize ?? 4,
    connectionTimeoutMillis: 5000,
    idleTimeoutMillis: 30_000,
    query_timeout: 30_000,
    application_name: 'gatehouse-audit',
  });
  // Idle clients whose connection dies emit here; without a listener the process would crash.
  pool.on('error', (err) => logger?.warn({ err: err.message }, 'audit: idle PostgreSQL connection failed'));

  async function transaction<R>(work: (client: pg.PoolClient) => Promise<R>): Promise<R> {
    const client = await pool.connect();
    // A checked-out client whose connection dies emits 'error'; the failing query reports it too.
    const onError = (err: Error) => logger?.debug({ err: err.message }, 'audit: PostgreSQL connection lost mid-transaction');
    client.on('error', onError);
    try {
      await client.query('BEGIN');
      const result = await work(client);
      await client.query('COMMIT');
      client.off('error', onError);
      client.release();
      return result;
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      client.off('error', onError);
      client.release(err as Error); // drop the connection: it may be broken
      throw err;
    }
  }

  let schemaReady: Promise<void> | undefined;
  const ensureSchema = () =>
    (schemaReady ??= transaction((client) => migrate(client, schema, logger)).catch((err) => {
      schemaReady = undefined;
      throw err;
    }));

  return { pool, schema, table, ensureSchema, transaction, end: () => pool.end() };
}
