import { checkDatabaseLogin, databaseAccess, type DatabaseRefusal, type RoleDatabases } from '../../access/databases.js';
import { resolveAccess, type Access, type Policy } from '../../access/index.js';
import { matchesAny } from '../../access/match.js';
import type { DatabaseConfig } from '../../config/databases.js';
import type { DbPeer } from './peer.js';

export type DbDecision =
  | { allowed: true; database: DatabaseConfig; access: Access }
  | { allowed: false; reason: DatabaseRefusal; message: string; database?: DatabaseConfig; access: Access };

/**
 * Whether the certificate's holder may sign in to its database as `user` on `name`: the database
 * must still be configured, the current policy (roles re-resolved from the identity in the
 * certificate, so a config change or a lost group applies at once) must allow both, and so must
 * the certificate itself (the users and names it was issued for).
 */
export function authorizeDb(options: {
  peer: DbPeer;
  databases: DatabaseConfig[];
  policy: Policy;
  roleSpecs: RoleDatabases[];
  user: string;
  name: string;
}): DbDecision {
  const { peer, user, name } = options;
  const access = resolveAccess(peer.identity, options.policy);
  const database = options.databases.find((d) => d.name === peer.database);
  if (!database) return { allowed: false, reason: 'unknown_database', message: `Database "${peer.database}" is not configured on this gateway.`, access };
  const granted = databaseAccess(peer.identity, access.roles, options.roleSpecs, options.policy.groupPrefixes[peer.identity.connector] ?? '', database.labels);
  const decision = checkDatabaseLogin(database.name, granted, user, name);
  if (!decision.allowed) return { ...decision, database, access };
  if (!matchesAny(peer.users, user) || !matchesAny(peer.names, name))
    return {
      allowed: false,
      reason: matchesAny(peer.users, user) ? 'db_name_not_allowed' : 'db_user_not_allowed',
      message: `Your certificate for "${database.name}" was issued for db users ${peer.users.join(', ')} and names ${peer.names.join(', ')}; run \`gatehouse db login ${database.name}\` again.`,
      database,
      access,
    };
  return { allowed: true, database, access };
}
