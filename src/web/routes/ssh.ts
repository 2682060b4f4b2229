import express, { Router } from 'express';
import { allowedLogins } from '../../access/index.js';
import { GatehouseError, isGatehouseError } from '../../core/errors.js';
import { issueUserCert } from '../../ssh-ca/issue.js';
import { fingerprint, parsePublicKeyLine } from '../../ssh-ca/keys.js';
import type { WebDeps } from '../deps.js';
import { asyncHandler } from '../middleware.js';
import { requirePrincipal } from '../principal.js';

/** Where clients reach the SSH listener: ssh.public_addr, else public_url's host with the listen port. */
export function sshProxyAddress(config: WebDeps['config']): string | undefined {
  if (!config.ssh) return undefined;
  if (config.ssh.public_addr) return config.ssh.public_addr;
  const port = config.ssh.listen.slice(config.ssh.listen.lastIndexOf(':') + 1);
  return `${new URL(config.server.public_url).hostname}:${port}`;
}

/** `GET /api/v1/ssh/ca` (public) and `POST /api/v1/ssh/certs` (signed in). */
export function sshRoutes(deps: WebDeps): Router {
  const router = Router();
  const ca = deps.sshCa;
  if (!ca) return router;

  router.get(
    '/api/v1/ssh/ca',
    asyncHandler(async (req, res) => {
      const type = req.query.type ?? 'user';
      if (type !== 'user' && type !== 'host') throw new GatehouseError('invalid_request', 'type must be "user" or "host".');
      res.setHeader('cache-control', 'no-cache');
      // user: the TrustedUserCAKeys line for nodes; host: the known_hosts line for clients.
      res.type('text/plain').send(`${type === 'user' ? await ca.userCaLine() : await ca.knownHostsLine()}\n`);
    }),
  );

  router.get(
    '/api/v1/ssh/nodes',
    asyncHandler(async (req, res) => {
      const { access } = await requirePrincipal(deps, req);
      const nodes = (deps.config.ssh?.nodes ?? [])
        .map((n) => ({ name: n.name, labels: n.labels, logins: allowedLogins(access, n.labels) }))
        .filter((n) => n.logins.length > 0);
      res.setHeader('cache-control', 'no-store');
      res.json({ nodes, proxy: sshProxyAddress(deps.config) ?? null });
    }),
  );

  router.post(
    '/api/v1/ssh/certs',
    express.json({ limit: '16kb' }),
    asyncHandler(async (req, res) => {
      const principal = await requirePrincipal(deps, req);
      const { identity, access, session } = principal;
      const context = res.locals.ctx;
      try {
        const body = (req.body ?? {}) as { public_key?: unknown };
        if (typeof body.public_key !== 'string') throw new GatehouseError('invalid_public_key', 'Send { "public_key": "<OpenSSH public key line>" }.');
        const publicKey = parsePublicKeyLine(body.public_key);
        const cert = await issueUserCert({
          ca,
          identity,
          access,
          publicKey,
          certTtlMs: deps.config.ssh?.cert_ttl ?? 8 * 3_600_000,
          sessionExpiresAt: session?.expiresAt,
        });
        const details = {
          serial: cert.serial.toString(),
          key_fingerprint: fingerprint(publicKey.blob),
          principals: cert.principals,
          valid_after: new Date(cert.validAfter * 1000).toISOString(),
          valid_before: new Date(cert.validBefore * 1000).toISOString(),
          extensions: Object.keys(cert.extensions).filter((e) => e.startsWith('permit-')),
        };
        await deps.audit.emit({ type: 'ssh.cert.issued', outcome: 'success', user: identity.username, connector: identity.connector, roles: access.roles, details, context });
        res.setHeader('cache-control', 'no-store');
        res.status(201).json({
          certificate: `${cert.certType} ${cert.blob.toString('base64')} ${identity.username}`,
          ...details,
          known_hosts: await ca.knownHostsLine(),
          proxy: sshProxyAddress(deps.config) ?? null,
        });
      } catch (err) {
        if (isGatehouseError(err) && err.status < 500)
          await deps.audit.emit({ type: 'ssh.cert.issued', outcome: 'failure', user: identity.username, connector: identity.connector, roles: access.roles, reason: err.code, context });
        throw err;
      }
    }),
  );
  return router;
}
