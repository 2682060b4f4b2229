import express, { Router } from 'express';
import { reachableNodes } from '../../access/index.js';
import { GatehouseError, isGatehouseError } from '../../core/errors.js';
import { splitHostPort } from '../../core/hosts.js';
import type { CaStatus } from '../../ssh-ca/ca.js';
import { issueUserCert } from '../../ssh-ca/issue.js';
import { fingerprint, parsePublicKeyLine } from '../../ssh-ca/keys.js';
import { CA_KINDS, overlapMs, ROTATION_PHASES } from '../../ssh-ca/rotation.js';
import { sshHostPrincipals } from '../../config/load.js';
import { DEFAULT_SSH_CERT_TTL_MS } from '../../config/schema.js';
import { sshCertRequest, type SshCertIssued, type SshNodes, type SshRevoked } from '../api-schema/ssh.js';
import type { WebDeps } from '../deps.js';
import { asyncHandler } from '../middleware.js';
import { authenticate, requirePrincipal, type Principal } from '../principal.js';

/** Where clients reach the SSH listener: ssh.public_addr, else public_url's host with the listen port. */
export function sshProxyAddress(config: WebDeps['config']): string | undefined {
  if (!config.ssh) return undefined;
  if (config.ssh.public_addr) return config.ssh.public_addr;
  const port = config.ssh.listen.slice(config.ssh.listen.lastIndexOf(':') + 1);
  return `${new URL(config.server.public_url).hostname}:${port}`;
}

/**
 * The host patterns of the `@cert-authority` line: the gateway's names as clients reach them and
 * the names of the nodes behind it, never `*` (which would trust the host CA for every host).
 * OpenSSH looks a host on a port other than 22 up as `[name]:port`, and matches patterns against
 * that form, so the gateway's names carry its port; nodes are reached on 22 through the jump.
 */
export function knownHostsPatterns(config: WebDeps['config'], nodeNames: string[]): string {
  const [publicHost, port] = splitHostPort(sshProxyAddress(config) ?? '');
  const gateway = [...new Set([...sshHostPrincipals(config), publicHost])].filter((name) => /^[^\s,*?!]+$/.test(name));
  // Port 0 (listen on any free port, as tests do): the port is not known here, so any port of those names.
  const withPort = (name: string) => (port === 22 ? name : `[${name}]:${port === 0 ? '*' : port}`);
  return [...gateway.map(withPort), ...nodeNames].join(',');
}

/**
 * `GET /api/v1/ssh/ca` and `GET /api/v1/ssh/ca/rotation` (public); `POST /api/v1/ssh/certs` and
 * `POST /api/v1/ssh/certs/revoke` (signed in); `POST /api/v1/ssh/ca/rotate` (ssh_ca_admin).
 */
export function sshRoutes(deps: WebDeps): Router {
  const router = Router();
  const ca = deps.sshCa;
  if (!ca) return router;
  const nodesFor = (principal: Principal | null) => (principal ? reachableNodes(principal.access, deps.config.ssh?.nodes ?? []) : []);
  // Only the nodes this person may reach: their names are not everyone's business. One line per published host CA key.
  const knownHostsLines = async (principal: Principal | null) =>
    (
      await ca.knownHostsLines(
        knownHostsPatterns(
          deps.config,
          nodesFor(principal).map((n) => n.name),
        ),
      )
    ).join('\n');
  const overlap = overlapMs(deps.config.ssh?.cert_ttl ?? DEFAULT_SSH_CERT_TTL_MS);
  const withDeadline = (status: CaStatus) => ({
    ...status,
    finish_after: status.phase === 'switch' && status.since ? new Date(Date.parse(status.since) + overlap).toISOString() : undefined,
  });

  router.get(
    '/api/v1/ssh/ca',
    asyncHandler(async (req, res) => {
      const type = req.query.type ?? 'user';
      if (type !== 'user' && type !== 'host') throw new GatehouseError('invalid_request', 'type must be "user" or "host".');
      // user: the TrustedUserCAKeys lines for nodes; host: the known_hosts lines for clients, covering
      // the gateway, and the nodes the caller may reach when signed in. Two lines during a rotation.
      const lines = type === 'user' ? (await ca.userCaLines()).join('\n') : await knownHostsLines(await authenticate(deps, req));
      res.setHeader('cache-control', type === 'user' ? 'no-cache' : 'no-store');
      res.type('text/plain').send(`${lines}\n`);
    }),
  );

  router.get(
    '/api/v1/ssh/ca/rotation',
    asyncHandler(async (_req, res) => {
      res.setHeader('cache-control', 'no-store');
      res.json({ overlap_ms: overlap, cas: await Promise.all(CA_KINDS.map(async (kind) => withDeadline(await ca.status(kind)))) });
    }),
  );

  /** One rotation phase, `{ "kind": "user"|"host", "phase": "init"|"switch"|"finish"|"rollback", "force"?: true }` (see docs/ssh.md). */
  router.post(
    '/api/v1/ssh/ca/rotate',
    express.json({ limit: '4kb' }),
    asyncHandler(async (req, res) => {
      const { identity, access } = await requirePrincipal(deps, req);
      const body = (req.body ?? {}) as { kind?: unknown; phase?: unknown; force?: unknown };
      const kind = CA_KINDS.find((k) => k === body.kind);
      const phase = ROTATION_PHASES.find((p) => p === body.phase);
      const base = { user: identity.username, connector: identity.connector, roles: access.roles, context: res.locals.ctx };
      if (!access.sshCaAdmin) {
        await deps.audit.emit({ type: 'access.denied', outcome: 'failure', ...base, reason: 'ssh_ca_forbidden', details: { resource: 'ssh-ca', kind, phase } });
        throw new GatehouseError('ssh_ca_forbidden', `${identity.username} has no role with ssh_ca_admin: true.`, { status: 403 });
      }
      try {
        if (!kind || !phase || (body.force !== undefined && typeof body.force !== 'boolean'))
          throw new GatehouseError('invalid_request', `Send { "kind": "user" | "host", "phase": "${ROTATION_PHASES.join('" | "')}", "force"?: true }.`);
        const { from, to } = await ca.rotate(kind, phase, { overlapMs: overlap, force: body.force === true });
        await deps.audit.emit({
          type: 'ssh.ca.rotate',
          outcome: 'success',
          ...base,
          details: {
            kind,
            phase,
            from: from.phase,
            to: to.phase,
            signing: to.signing,
            published: to.published.map((p) => p.fingerprint),
            forced: body.force === true || undefined,
          },
        });
        res.setHeader('cache-control', 'no-store');
        res.json(withDeadline(to));
      } catch (err) {
        if (isGatehouseError(err) && err.status < 500) {
          const current = kind ? (await ca.status(kind).catch(() => undefined))?.phase : undefined;
          await deps.audit.emit({ type: 'ssh.ca.rotate', outcome: 'failure', ...base, reason: err.code, details: { kind, phase, current } });
        }
        throw err;
      }
    }),
  );

  router.get(
    '/api/v1/ssh/nodes',
    asyncHandler(async (req, res) => {
      const nodes = nodesFor(await requirePrincipal(deps, req)).map(({ name, labels, logins }) => ({ name, labels, logins }));
      res.setHeader('cache-control', 'no-store');
      res.json({ nodes, proxy: sshProxyAddress(deps.config) ?? null } satisfies SshNodes);
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
        const body = sshCertRequest.safeParse(req.body ?? {});
        if (!body.success) throw new GatehouseError('invalid_public_key', 'Send { "public_key": "<OpenSSH public key line>" }.');
        const publicKey = parsePublicKeyLine(body.data.public_key);
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
        await deps.sshRevocations?.remember({
          serial: details.serial,
          user: identity.username,
          valid_before: cert.validBefore,
          key_fingerprint: details.key_fingerprint,
        });
        await deps.audit.emit({
          type: 'ssh.cert.issued',
          outcome: 'success',
          user: identity.username,
          connector: identity.connector,
          roles: access.roles,
          details,
          context,
        });
        res.setHeader('cache-control', 'no-store');
        res.status(201).json({
          certificate: `${cert.certType} ${cert.blob.toString('base64')} ${identity.username}`,
          ...details,
          known_hosts: await knownHostsLines(principal),
          proxy: sshProxyAddress(deps.config) ?? null,
        } satisfies SshCertIssued);
      } catch (err) {
        if (isGatehouseError(err) && err.status < 500)
          await deps.audit.emit({
            type: 'ssh.cert.issued',
            outcome: 'failure',
            user: identity.username,
            connector: identity.connector,
            roles: access.roles,
            reason: err.code,
            context,
          });
        throw err;
      }
    }),
  );

  /**
   * Revokes one certificate (`{ "serial": "…" }`) or every certificate of a person issued until now
   * (`{ "user": "…" }`). Everyone may revoke their own; `ssh_revoke` roles anyone's. Connections
   * made with a revoked certificate are ended on every replica.
   */
  router.post(
    '/api/v1/ssh/certs/revoke',
    express.json({ limit: '4kb' }),
    asyncHandler(async (req, res) => {
      const revocations = deps.sshRevocations;
      if (!revocations) throw new GatehouseError('not_found', 'SSH is not configured.', { status: 404 });
      const { identity, access } = await requirePrincipal(deps, req);
      const body = (req.body ?? {}) as { serial?: unknown; user?: unknown };
      const base = { user: identity.username, connector: identity.connector, roles: access.roles, context: res.locals.ctx };
      const refuse = async (err: GatehouseError, details: Record<string, unknown>) => {
        await deps.audit.emit({ type: 'ssh.cert.revoked', outcome: 'failure', ...base, reason: err.code, details });
        throw err;
      };
      let revocation;
      if (typeof body.serial === 'string' && /^\d{1,20}$/.test(body.serial) && body.user === undefined) {
        const issued = await revocations.issued(body.serial);
        // Someone else's serial answers like an unknown one, unless the caller may revoke anyone's.
        if (!issued || (issued.user !== identity.username && !access.sshRevoke))
          return refuse(new GatehouseError('cert_unknown', 'No unexpired certificate of yours has this serial.', { status: 404 }), { serial: body.serial });
        revocation = await revocations.revokeSerial(issued);
      } else if (typeof body.user === 'string' && body.user !== '' && body.serial === undefined) {
        if (body.user !== identity.username && !access.sshRevoke)
          return refuse(new GatehouseError('revoke_forbidden', "Revoking someone else's certificates needs a role with ssh_revoke.", { status: 403 }), {
            target_user: body.user,
          });
        revocation = await revocations.revokeUser(body.user);
      } else {
        return refuse(new GatehouseError('invalid_request', 'Send { "serial": "<decimal serial>" } or { "user": "<username>" }.'), {});
      }
      const { user: owner, ...rest } = revocation;
      await deps.audit.emit({ type: 'ssh.cert.revoked', outcome: 'success', ...base, details: { target_user: owner, ...rest } });
      res.setHeader('cache-control', 'no-store');
      res.json({ revoked: revocation } satisfies SshRevoked);
    }),
  );
  return router;
}
