import type { AuthContext, Connection, PublicKeyAuthContext } from 'ssh2';
import { resolveAccess, type Access, type Policy } from '../../access/index.js';
import type { AuditInput } from '../../audit/sink.js';
import { seconds, type Clock } from '../../core/clock.js';
import { GatehouseError, isGatehouseError } from '../../core/errors.js';
import type { Logger } from '../../core/logger.js';
import type { ExternalIdentity, RequestContext } from '../../core/types.js';
import type { SshCa } from '../../ssh-ca/ca.js';
import { isCertAlgorithm, type ParsedCertificate } from '../../ssh-ca/certs.js';
import { GATEWAY_ONLY_OPTION, identityFromCert } from '../../ssh-ca/identity.js';
import { fingerprint, verifySshSignature } from '../../ssh-ca/keys.js';
import type { Revocations } from '../../ssh-ca/revocation.js';
import { claimedUser, type AuthLimits } from './auth-limits.js';
import { sendAuthBanner } from './ssh2-extensions.js';

export interface Authenticated {
  identity: ExternalIdentity;
  access: Access;
  cert: ParsedCertificate;
}

/** Which server asks: the jump listener, or the inner server for a node. */
export type AuthStage = 'gateway' | 'node';

/**
 * Cert + signature checks shared by the outer and inner servers. 'query' = the client only asked
 * whether its certificate would do (accept without a signature); null = refuse quietly.
 */
export type Authenticate = (
  conn: Connection,
  ctx: AuthContext,
  context: RequestContext,
  stage: AuthStage,
) => Promise<Authenticated | 'query' | 'closed' | null>;

export interface AuthenticateDeps {
  ca: SshCa;
  revocations: Revocations;
  policy: Policy;
  limits: AuthLimits;
  emit: (input: AuditInput) => Promise<void>;
  logger: Logger;
  clock: Clock;
}

export function createAuthenticate(deps: AuthenticateDeps): Authenticate {
  const { ca, limits, emit, logger } = deps;
  return async (conn, ctx, context, stage) => {
    // `none` is how every client starts (asking which methods exist): not a failure.
    if (ctx.method === 'none') return null;
    if (!limits.countAttempt(conn)) {
      // Past the cap the connection ends unanswered: a failure reply would invite one more attempt.
      conn.end();
      return 'closed';
    }
    const person = claimedUser(ctx);
    const refusal = await limits.refusal(context, person);
    if (refusal) {
      if (refusal.first) {
        emit({
          type: 'ssh.auth',
          outcome: 'failure',
          user: person ?? ctx.username,
          reason: 'ssh_rate_limited',
          context,
          details: { stage, login: ctx.username, limit: refusal.limit, window_s: limits.windowSeconds },
        });
        sendAuthBanner(conn, 'gatehouse: too many failed authentication attempts; wait a minute and try again.');
      }
      return null;
    }
    if (ctx.method !== 'publickey') {
      await limits.recordFailure(conn, context, undefined);
      return null;
    }
    const pk = ctx as PublicKeyAuthContext;
    if (!isCertAlgorithm(pk.key.algo)) {
      // A plain key is never accepted: only Gatehouse certificates are. Audited, with the key.
      await limits.recordFailure(conn, context, undefined, true);
      emit({
        type: 'ssh.auth',
        outcome: 'failure',
        user: ctx.username,
        reason: 'cert_required',
        context,
        details: { stage, login: ctx.username, key_algo: pk.key.algo, key_fingerprint: fingerprint(pk.key.data) },
      });
      return null;
    }
    try {
      const cert = await ca.checkUser(pk.key.data, { now: seconds(deps.clock.now()), knownCriticalOptions: [GATEWAY_ONLY_OPTION] });
      const identity = identityFromCert(cert);
      if (await deps.revocations.isRevoked(cert))
        throw new GatehouseError('cert_revoked', 'This certificate has been revoked; run `gatehouse login` for a new one.', { status: 401 });
      if (!pk.signature) return 'query';
      if (!pk.blob || !(await verifySshSignature(cert.publicKey, pk.signature, pk.blob)))
        throw Object.assign(new Error('bad signature'), { code: 'signature_invalid' });
      return { identity, access: resolveAccess(identity, deps.policy), cert };
    } catch (err) {
      const code = isGatehouseError(err) ? err.code : ((err as { code?: string }).code ?? 'cert_invalid');
      await limits.recordFailure(conn, context, person).catch((e) => logger.error({ err: e }, 'counting an SSH auth failure failed'));
      // Audit once per attempt: the signed request, or the query when the cert itself is bad.
      emit({ type: 'ssh.auth', outcome: 'failure', user: ctx.username, reason: code, context, details: { stage, login: ctx.username, key_algo: pk.key.algo } });
      if (isGatehouseError(err)) sendAuthBanner(conn, `gatehouse: ${err.message}`);
      return null;
    }
  };
}
