/** Databases: the ones the caller may reach, and short-lived client certificates for them (docs/databases.md). */
import { z } from 'zod';
import { errors, json, UNAUTHENTICATED, type ApiOperation } from './operation.js';

const protocol = z.enum(['postgres', 'mysql']);
const address = z.string().describe('host:port of the gateway’s database listener (`db.public_addr`), what clients connect to.');
const dbUsers = z.array(z.string()).describe('The db users the caller’s roles allow there (globs and `/regex/` patterns as the roles write them).');
const dbNames = z.array(z.string()).describe('The db names (PostgreSQL’s `database`) the caller’s roles allow there (globs allowed).');

export const dbDatabases = z
  .object({
    databases: z.array(
      z.object({
        name: z.string(),
        protocol,
        labels: z.record(z.string(), z.string()),
        users: dbUsers,
        names: dbNames,
        connect: z.array(z.string()).describe('`gatehouse db connect NAME --db-user U` for each db user that is a name, not a pattern.'),
      }),
    ),
    address,
  })
  .meta({ description: 'The databases the caller may reach, with the db users and names allowed on each.' });
export type DbDatabases = z.infer<typeof dbDatabases>;

const dbCertRequest = z.object({
  database: z.string().min(1).describe('A configured database’s name.'),
  db_user: z.string().min(1).optional().describe('The db user to sign in as (default: the first allowed db user that is a name).'),
  db_name: z.string().min(1).optional().describe('The db name to open (default: the first allowed name that is not a pattern).'),
});

export const dbCertIssued = z
  .object({
    certificate: z.string().describe('The client certificate (PEM), for `sslcert`.'),
    key: z.string().describe('Its private key: EC P-256, PKCS#8 PEM, for `sslkey`. Made for this answer and kept nowhere.'),
    ca: z.string().describe('The database CA (PEM), for `sslrootcert`: it also signs the listener’s certificate (`sslmode=verify-full`).'),
    serial: z
      .string()
      .regex(/^[0-9a-f]+$/)
      .describe('The certificate’s serial number, lowercase hex.'),
    valid_after: z.iso.datetime(),
    valid_before: z.iso.datetime(),
    database: z.string(),
    protocol,
    address,
    db_user: z.string().nullable().describe('The db user to use: the requested one, else the first allowed that is a name; null when every one is a pattern.'),
    db_name: z.string().nullable().describe('The db name to use: the requested one, else the first allowed that is not a pattern; null when none is.'),
    db_users: dbUsers,
    db_names: dbNames,
  })
  .meta({ description: 'A key and a short-lived client certificate for one database.' });
export type DbCertIssued = z.infer<typeof dbCertIssued>;

export const dbOperations: ApiOperation[] = [
  {
    method: 'get',
    path: '/api/v1/db/databases',
    tag: 'db',
    summary: 'The databases the caller may reach, and the db users and names allowed on each',
    description: 'Answered when the gateway has a database listener (`db`); otherwise this path is not found.',
    auth: 'principal',
    responses: { 200: json('The databases.', 'DbDatabases', dbDatabases), ...errors(UNAUTHENTICATED) },
  },
  {
    method: 'post',
    path: '/api/v1/db/certs',
    tag: 'db',
    summary: 'A key and a short-lived client certificate for one database (audited as db.cert.issued)',
    description: 'Valid until the earliest of `db.cert_ttl`, the session’s end and the roles’ `max_session_ttl`; revoked with the caller’s SSH certificates.',
    auth: 'principal',
    body: { media: 'application/json', schema: dbCertRequest, required: true },
    responses: {
      201: json('The key and certificate.', 'DbCertIssued', dbCertIssued),
      ...errors({
        400: 'No database named, or a db user or name that is not a non-empty string (`invalid_request`).',
        401: `${UNAUTHENTICATED[401]} Or the session has expired (\`session_expired\`).`,
        403: 'The roles grant nothing there (`db_access_denied`), or not the requested db user (`db_user_not_allowed`) or db name (`db_name_not_allowed`).',
        404: 'No database has that name (`unknown_database`).',
      }),
    },
  },
];
