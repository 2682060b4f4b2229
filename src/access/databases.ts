import type { ExternalIdentity } from '../core/types.js';
import { matchesAny } from './match.js';
import { expandTemplates } from './templates.js';

/**
 * Database policy: a role's `databases` entries grant db users (templates such as
 * `{{email.local}}` expanded per person) and db names (globs) on the databases whose labels match.
 * An entry without labels matches no database (as node_labels do for SSH).
 */
export interface DatabaseGrantSpec {
  labels: Record<string, string[]>;
  users: string[];
  names: string[];
}

export interface RoleDatabases {
  name: string;
  databases?: DatabaseGrantSpec[];
}

/** What a person may do on one database: db users and db names (each may hold globs). */
export interface DatabaseAccess {
  users: string[];
  names: string[];
}

/** Why a database connection or certificate is refused; callers keep these as error codes and audit reasons. */
export type DatabaseRefusal = 'unknown_database' | 'db_access_denied' | 'db_user_not_allowed' | 'db_name_not_allowed';

const labelsMatch = (want: Record<string, string[]>, labels: Record<string, string>) =>
  Object.keys(want).length > 0 && Object.entries(want).every(([key, values]) => labels[key] !== undefined && matchesAny(values, labels[key]));

/** The users and names the person's roles (already resolved) grant on a database with these labels. */
export function databaseAccess(
  identity: ExternalIdentity,
  roles: string[],
  specs: RoleDatabases[],
  groupPrefix: string,
  labels: Record<string, string>,
): DatabaseAccess {
  const users = new Set<string>();
  const names = new Set<string>();
  for (const spec of specs) {
    if (!roles.includes(spec.name)) continue;
    for (const grant of spec.databases ?? []) {
      if (!labelsMatch(grant.labels, labels)) continue;
      expandTemplates(grant.users, identity, groupPrefix).forEach((u) => users.add(u));
      grant.names.forEach((n) => names.add(n));
    }
  }
  return { users: [...users].sort(), names: [...names].sort() };
}

export type DatabaseDecision = { allowed: true } | { allowed: false; reason: DatabaseRefusal; message: string };

/**
 * Whether `user` on `name` is within the access: both lists must allow it. A db name left out
 * means the database's default (PostgreSQL: the db user's name), which must be allowed too.
 */
export function checkDatabaseLogin(database: string, access: DatabaseAccess, user: string, name: string): DatabaseDecision {
  if (!access.users.length) return { allowed: false, reason: 'db_access_denied', message: `Your roles grant no access to database "${database}".` };
  if (!matchesAny(access.users, user))
    return {
      allowed: false,
      reason: 'db_user_not_allowed',
      message: `You may not sign in to "${database}" as db user "${user}" (allowed: ${access.users.join(', ')}).`,
    };
  if (!matchesAny(access.names, name))
    return {
      allowed: false,
      reason: 'db_name_not_allowed',
      message: `You may not open db name "${name}" on "${database}" (allowed: ${access.names.join(', ') || 'none'}).`,
    };
  return { allowed: true };
}

/** The databases a person may reach (some db user granted), each with what they may do there. */
export function reachableDatabases<D extends { name: string; labels: Record<string, string> }>(
  identity: ExternalIdentity,
  roles: string[],
  specs: RoleDatabases[],
  groupPrefix: string,
  databases: D[],
): (D & DatabaseAccess)[] {
  return databases.map((d) => ({ ...d, ...databaseAccess(identity, roles, specs, groupPrefix, d.labels) })).filter((d) => d.users.length > 0);
}

/** A db user or name that is a pattern (glob or `/regex/`), not one to sign in as. */
export const isDatabasePattern = (value: string): boolean => /[*?]/.test(value) || value.startsWith('/');

/** `gatehouse db connect` for each db user that is a name rather than a pattern (the API's `connect`, the home page's lines). */
export const connectCommands = (database: string, users: string[]): string[] =>
  users.filter((u) => !isDatabasePattern(u)).map((u) => `gatehouse db connect ${database} --db-user ${u}`);
