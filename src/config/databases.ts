import { z } from 'zod';
import { duration } from './fields.js';
import { isLoopbackHost, splitHostPort } from '../core/hosts.js';

/*
 * The config of database access (docs/databases.md): `databases` (what the gateway reaches),
 * `db` (its one TLS listener) and each role's `databases` grants. schema.ts includes them.
 */

const hostPort = z.string().regex(/^(\[[0-9a-fA-F:]+\]|[^:\s]+):\d{1,5}$/, 'expected host:port, e.g. 10.0.0.5:5432');

/**
 * How the gateway signs in upstream as one db user: with a password (`password_file` is read into
 * `password` at load, like every secret), or with a TLS client certificate it presents to the
 * database (cert_file and key_file, read at each connection like ca_file; needs tls.mode verify-full).
 */
const credential = z
  .strictObject({
    /** The db user this credential belongs to (`*`: any requested user). */
    user: z.string().min(1),
    /** SCRAM-SHA-256 / md5 (PostgreSQL), caching_sha2_password / mysql_native_password (MySQL, MariaDB). */
    password: z.string().min(1).optional(),
    /** A PEM client certificate for the database's cert auth (pg_hba `cert`, MySQL `REQUIRE X509`). */
    cert_file: z.string().min(1).optional(),
    /** The PEM private key of cert_file. */
    key_file: z.string().min(1).optional(),
  })
  .superRefine((c, ctx) => {
    const cert = c.cert_file !== undefined || c.key_file !== undefined;
    if (c.password !== undefined && cert)
      ctx.addIssue({ code: 'custom', message: 'a credential is a password (or password_file) or a client certificate (cert_file, key_file), not both' });
    else if (cert && (c.cert_file === undefined || c.key_file === undefined))
      ctx.addIssue({
        code: 'custom',
        path: [c.cert_file === undefined ? 'cert_file' : 'key_file'],
        message: 'a client certificate needs both cert_file and key_file',
      });
    else if (!cert && c.password === undefined) ctx.addIssue({ code: 'custom', message: 'set password (or password_file), or cert_file and key_file' });
  });

export type DatabaseCredential = z.output<typeof credential>;

const database = z
  .strictObject({
    name: z.string().regex(/^[a-z0-9][a-z0-9_-]{0,62}$/, 'lowercase letters, digits, "-" and "_" only'),
    protocol: z.enum(['postgres', 'mysql']),
    address: hostPort,
    labels: z.record(z.string(), z.string()).default({}),
    tls: z
      .strictObject({
        /** verify-full: TLS to the database, its certificate checked against ca_file (or the system roots) and its host name. */
        mode: z.enum(['verify-full', 'disable']).default('verify-full'),
        ca_file: z.string().optional(),
        /** The name the database's certificate must carry (default: the address's host). */
        server_name: z.string().optional(),
      })
      .default({ mode: 'verify-full' }),
    /** One entry, or one per db user. A requested db user with no entry is signed in with neither (trust, or a refusal from the server). */
    credentials: z
      .union([credential, z.array(credential)])
      .transform((c) => (Array.isArray(c) ? c : [c]))
      .default([]),
  })
  .refine((d) => d.tls.mode !== 'disable' || isLoopbackHost(splitHostPort(d.address)[0]), {
    message: 'tls.mode disable is allowed only for a loopback address (127.0.0.1, ::1, localhost)',
    path: ['tls', 'mode'],
  })
  // A client certificate is presented in the TLS handshake: without TLS there is none.
  .refine((d) => d.tls.mode === 'verify-full' || !d.credentials.some((c) => c.cert_file !== undefined), {
    message: 'a client-certificate credential (cert_file, key_file) needs tls.mode verify-full',
    path: ['credentials'],
  });

export const databasesSection = z
  .array(database)
  .default([])
  .superRefine((list, ctx) => {
    const seen = new Set<string>();
    list.forEach((d, i) => {
      if (seen.has(d.name)) ctx.addIssue({ code: 'custom', path: [i, 'name'], message: `another database is already named "${d.name}"` });
      seen.add(d.name);
    });
  });

/** Client certificates last this long unless the session or a role's max_session_ttl ends sooner. */
export const DEFAULT_DB_CERT_TTL_MS = 8 * 3_600_000;

export const dbSection = z.strictObject({
  /** One TLS port for every database client. */
  listen: hostPort.default('0.0.0.0:5433'),
  /** host:port clients use (default: public_url's host and the listen port); its host is in the listener's certificate. */
  public_addr: hostPort.optional(),
  /** Extra DNS names or IPs for the listener's certificate. */
  hosts: z.array(z.string()).default([]),
  cert_ttl: duration.default(DEFAULT_DB_CERT_TTL_MS),
  /** Statement text and each parameter in db.query events are cut at this many characters (and marked cut). */
  max_query_chars: z.number().int().min(64).default(4096),
  /** A connection that has not finished its startup in this long is closed. */
  startup_timeout: duration.default(10_000),
  /**
   * One port for both protocols: a PostgreSQL client speaks first, a MySQL client waits for the
   * server's greeting. A client silent this long is greeted as MySQL (only when a mysql database is configured).
   */
  mysql_greeting_delay: duration.default(200),
});

const labelValues = z.union([z.string().transform((v) => [v]), z.array(z.string())]);

/** A role's grant: databases whose labels match, as these db users (templates allowed) on these db names (globs allowed). */
export const roleDatabases = z
  .array(
    z.strictObject({
      labels: z.record(z.string(), labelValues).default({}),
      users: z.array(z.string()).default([]),
      names: z.array(z.string()).default([]),
    }),
  )
  .default([]);

export type DatabaseConfig = z.output<typeof database>;
export type DbConfig = z.output<typeof dbSection>;

/** Where clients reach the database listener: db.public_addr, else public_url's host with the listen port. */
export function dbPublicAddress(db: DbConfig, publicUrl: string): string {
  if (db.public_addr) return db.public_addr;
  const host = new URL(publicUrl).hostname;
  return `${host.includes(':') ? `[${host.replace(/^\[|\]$/g, '')}]` : host}:${splitHostPort(db.listen)[1]}`;
}

/** The names the listener's certificate carries: the public address's host, the listen host (unless a wildcard), loopback, db.hosts. */
export function dbListenerHosts(db: DbConfig, publicUrl: string): string[] {
  const listenHost = splitHostPort(db.listen)[0];
  const hosts = [
    splitHostPort(dbPublicAddress(db, publicUrl))[0],
    ...(listenHost === '0.0.0.0' || listenHost === '::' ? [] : [listenHost]),
    'localhost',
    '127.0.0.1',
    ...db.hosts,
  ];
  return [...new Set(hosts)];
}
