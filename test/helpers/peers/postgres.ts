import { createServer, connect, type Server, type Socket } from 'node:net';
import type { TestContext } from 'node:test';
import pg from 'pg';
import { skipOrFail, tcpReachable } from './services.js';

export const PG_URL = process.env.GATEHOUSE_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/** True when PostgreSQL answers; otherwise skips (or fails on CI). */
export async function requirePostgres(t: TestContext): Promise<boolean> {
  const url = new URL(PG_URL);
  if (await tcpReachable(url.hostname, Number(url.port || 5432))) return true;
  skipOrFail(t, `PostgreSQL is not reachable at ${url.host}`);
  return false;
}

/** A schema name no other run uses: audit_test_<pid>_<time>_<n>. */
let counter = 0;
export const freshSchema = (prefix = 'audit_test') => `${prefix}_${process.pid}_${Date.now()}_${counter++}`;

/** Runs SQL against the test database (one short-lived connection). */
export async function sql<R extends pg.QueryResultRow = pg.QueryResultRow>(text: string, params: unknown[] = []): Promise<R[]> {
  const client = new pg.Client({ connectionString: PG_URL });
  await client.connect();
  try {
    return (await client.query<R>(text, params)).rows;
  } finally {
    await client.end();
  }
}

export const dropSchema = (schema: string) => sql(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);

/** The test PostgreSQL URL with another host:port (e.g. a proxy in front of it). */
export function pgUrlVia(port: number): string {
  const url = new URL(PG_URL);
  url.hostname = '127.0.0.1';
  url.port = String(port);
  return url.href;
}

/**
 * A TCP proxy in front of the shared PostgreSQL, so a test can simulate an outage without
 * stopping the server other people use: `cut()` closes the listener and every connection,
 * `restore()` listens again on the same port.
 */
export interface PgProxy {
  port: number;
  url: string;
  cut(): Promise<void>;
  restore(): Promise<void>;
  close(): Promise<void>;
}

export async function startPgProxy(options: { listening?: boolean; port?: number } = {}): Promise<PgProxy> {
  const target = new URL(PG_URL);
  const sockets = new Set<Socket>();
  let server: Server | undefined;
  let port = options.port ?? 0;

  const listen = async () => {
    server = createServer((client) => {
      const upstream = connect({ host: target.hostname, port: Number(target.port || 5432) });
      sockets.add(client).add(upstream);
      const drop = () => {
        client.destroy();
        upstream.destroy();
        sockets.delete(client);
        sockets.delete(upstream);
      };
      client.on('error', drop).on('close', drop);
      upstream.on('error', drop).on('close', drop);
      client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((resolve, reject) => {
      server!.once('error', reject);
      server!.listen(port, '127.0.0.1', () => resolve());
    });
    port = (server.address() as { port: number }).port;
  };
  const cut = async () => {
    const s = server;
    server = undefined;
    for (const socket of sockets) socket.destroy();
    sockets.clear();
    if (s) await new Promise((resolve) => s.close(resolve));
  };

  if (options.listening !== false) await listen();
  else if (!port) {
    // Reserve a port number without listening.
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    port = (probe.address() as { port: number }).port;
    await new Promise((resolve) => probe.close(resolve));
  }
  return {
    get port() {
      return port;
    },
    get url() {
      return pgUrlVia(port);
    },
    cut,
    restore: async () => {
      if (!server) await listen();
    },
    close: cut,
  };
}
