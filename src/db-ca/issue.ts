import { databaseAccess, checkDatabaseLogin, type DatabaseRefusal, type RoleDatabases } from '../access/databases.js';
import { requestsEndAt, type Access } from '../access/policy.js';
import { GatehouseError } from '../core/errors.js';
import type { ExternalIdentity } from '../core/types.js';
import type { DbCa } from './ca.js';

/** Clock skew allowance: certificates are valid from one minute ago (as SSH certificates). */
export const DB_BACKDATE_S = 60;

const STATUS: Record<DatabaseRefusal, number> = { unknown_database: 404, db_access_denied: 403, db_user_not_allowed: 403, db_name_not_allowed: 403 };

export interface IssuedDbCert {
  key: string;
  cert: string;
  serial: string;
  notBefore: Date;
  notAfter: Date;
  users: string[];
  names: string[];
}

/**
 * A person's client certificate for one database: it carries their identity, roles and the db
 * users and names their roles allow there, and is valid from a minute ago until the earliest of
 * db.cert_ttl, the roles' max_session_ttl and the session's end. The requested db user and name
 * (when given) must be allowed, so `gatehouse db login` fails early with the reason.
 */
export async function issueDbCert(options: {
  ca: DbCa;
  identity: ExternalIdentity;
  access: Access;
  roleSpecs: RoleDatabases[];
  groupPrefix: string;
  database: { name: string; labels: Record<string, string> } | undefined;
  requested: { user?: string; name?: string };
  certTtlMs: number;
  sessionExpiresAt?: number;
  now?: number;
}): Promise<IssuedDbCert> {
  const { identity, access, database } = options;
  if (!database) throw new GatehouseError('unknown_database', 'No such database.', { status: 404 });
  const allowed = databaseAccess(identity, access.roles, options.roleSpecs, options.groupPrefix, database.labels);
  const user = options.requested.user ?? allowed.users.find((u) => !/[*?]/.test(u)) ?? '';
  const decision = checkDatabaseLogin(database.name, allowed, user, options.requested.name ?? user);
  // Without a requested name the certificate is still useful for the names allowed.
  const refused = !decision.allowed && (decision.reason !== 'db_name_not_allowed' || options.requested.name !== undefined) ? decision : undefined;
  if (refused) throw new GatehouseError(refused.reason, refused.message, { status: STATUS[refused.reason] });
  const now = options.now ?? Date.now();
  const ends = [
    now + options.certTtlMs,
    options.sessionExpiresAt,
    access.maxSessionTtlMs === undefined ? undefined : now + access.maxSessionTtlMs,
    requestsEndAt(access),
  ];
  const notAfter = new Date(Math.min(...ends.filter((t): t is number => t !== undefined)));
  if (notAfter.getTime() <= now + 1000) throw new GatehouseError('session_expired', 'The session has expired; sign in again.', { status: 401 });
  const notBefore = new Date(Math.floor(now / 1000 - DB_BACKDATE_S) * 1000);
  const issued = await options.ca.issueClient(
    { identity, roles: access.roles, database: database.name, users: allowed.users, names: allowed.names },
    { notBefore, notAfter },
  );
  return { ...issued, notBefore, notAfter, users: allowed.users, names: allowed.names };
}
