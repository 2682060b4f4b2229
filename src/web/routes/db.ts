import express, { Router } from 'express';
import { connectCommands, isDatabasePattern, reachableDatabases } from '../../access/databases.js';
import { dbPublicAddress } from '../../config/databases.js';
import { GatehouseError, isGatehouseError } from '../../core/errors.js';
import { createDbCa } from '../../db-ca/ca.js';
import { issueDbCert } from '../../db-ca/issue.js';
import type { DbCertIssued, DbDatabases } from '../api-schema/db.js';
import type { WebDeps } from '../deps.js';
import { asyncHandler } from '../middleware.js';
import { requirePrincipal, type Principal } from '../principal.js';

/**
 * `GET /api/v1/db/databases`: the databases the caller may reach, with the db users and names
 * their roles allow; `POST /api/v1/db/certs`: a key and a short-lived client certificate for one
 * of them (the requested db user and name must be allowed; refusals are 403 with the code, audited).
 * The database CA lives in the shared store, so every replica (and the listener) reads the same one.
 * The bodies are described in ../api-schema/db.ts.
 */
export function dbRoutes(deps: WebDeps): Router {
  const router = Router();
  const db = deps.config.db;
  if (!db) return router;
  const ca = createDbCa({ store: deps.store, dataDir: deps.config.state.data_dir, logger: deps.logger });
  const address = () => dbPublicAddress(db, deps.config.server.public_url);
  const reachable = ({ identity, access }: Principal) =>
    reachableDatabases(identity, access.roles, deps.config.roles, deps.policy.groupPrefixes[identity.connector] ?? '', deps.config.databases);

  router.get(
    '/api/v1/db/databases',
    asyncHandler(async (req, res) => {
      const databases = reachable(await requirePrincipal(deps, req)).map(({ name, protocol, labels, users, names }) => ({
        name,
        protocol,
        labels,
        users,
        names,
        connect: connectCommands(name, users),
      }));
      res.setHeader('cache-control', 'no-store');
      res.json({ databases, address: address() } satisfies DbDatabases);
    }),
  );

  router.post(
    '/api/v1/db/certs',
    express.json({ limit: '4kb' }),
    asyncHandler(async (req, res) => {
      const { identity, access, session } = await requirePrincipal(deps, req);
      const body = (req.body ?? {}) as { database?: unknown; db_user?: unknown; db_name?: unknown };
      const requested = {
        database: typeof body.database === 'string' ? body.database.slice(0, 128) : undefined,
        db_user: typeof body.db_user === 'string' ? body.db_user.slice(0, 128) : undefined,
        db_name: typeof body.db_name === 'string' ? body.db_name.slice(0, 128) : undefined,
      };
      const base = { user: identity.username, connector: identity.connector, roles: access.roles, context: res.locals.ctx };
      try {
        if (!requested.database || [body.db_user, body.db_name].some((v) => v !== undefined && (typeof v !== 'string' || v === '')))
          throw new GatehouseError('invalid_request', 'Send { "database": "<name>", "db_user"?: "<user>", "db_name"?: "<name>" }.');
        const database = deps.config.databases.find((d) => d.name === requested.database);
        const issued = await issueDbCert({
          ca,
          identity,
          access,
          roleSpecs: deps.config.roles,
          groupPrefix: deps.policy.groupPrefixes[identity.connector] ?? '',
          database,
          requested: { user: requested.db_user, name: requested.db_name },
          certTtlMs: Math.min(db.cert_ttl, deps.config.server.session.absolute_ttl),
          sessionExpiresAt: session?.expiresAt,
        });
        const details = {
          database: database!.name,
          serial: issued.serial,
          db_users: issued.users,
          db_names: issued.names,
          valid_after: issued.notBefore.toISOString(),
          valid_before: issued.notAfter.toISOString(),
        };
        await deps.audit.emit({ type: 'db.cert.issued', outcome: 'success', ...base, details });
        res.setHeader('cache-control', 'no-store');
        res.status(201).json({
          ...details,
          protocol: database!.protocol,
          certificate: issued.cert,
          key: issued.key,
          ca: await ca.caPem(),
          address: address(),
          db_user: requested.db_user ?? issued.users.find((u) => !isDatabasePattern(u)) ?? null,
          db_name: requested.db_name ?? issued.names.find((n) => !isDatabasePattern(n)) ?? null,
        } satisfies DbCertIssued);
      } catch (err) {
        if (isGatehouseError(err) && err.status < 500)
          await deps.audit.emit({
            type: 'db.cert.issued',
            outcome: 'failure',
            ...base,
            reason: err.code,
            details: { database: requested.database, db_user: requested.db_user, db_name: requested.db_name },
          });
        throw err;
      }
    }),
  );
  return router;
}
