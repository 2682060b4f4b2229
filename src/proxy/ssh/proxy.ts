import { createHash } from 'node:crypto';
import { once } from 'node:events';
import ssh2, { type AuthContext, type Client, type Connection, type PublicKeyAuthContext, type Server } from 'ssh2';
import { allowedLogins, resolveAccess, type Access, type Policy } from '../../access/index.js';
import { checkNodeLogin } from '../../access/node-login.js';
import { type AuditSink, bestEffort } from '../../audit/sink.js';
import type { SshConfig, SshNodeConfig } from '../../config/schema.js';
import { GatehouseError, isGatehouseError } from '../../core/errors.js';
import type { Logger } from '../../core/logger.js';
import type { ExternalIdentity, RequestContext } from '../../core/types.js';
import type { Recorder } from '../../recording/recorder.js';
import type { SshCa } from '../../ssh-ca/ca.js';
import { isCertAlgorithm, parseCertificate, type ParsedCertificate } from '../../ssh-ca/certs.js';
import { GATEWAY_ONLY_OPTION, identityFromCert } from '../../ssh-ca/identity.js';
import { fingerprint, verifySshSignature } from '../../ssh-ca/keys.js';
import { covers, type Revocations } from '../../ssh-ca/revocation.js';
import { createFixedWindowLimiter } from '../../store/rate-limit.js';
import type { Store } from '../../store/store.js';
import { createHostKeys } from './host-keys.js';
import { ForwardedAgent, handlePortForwarding } from './forwarding.js';
import { bridgeSession, type JumpConnection } from './session.js';
import { presentHostCertificate, rejectChannel, sendAuthBanner } from './ssh2-extensions.js';
import { connectUpstream } from './upstream.js';

export interface SshProxyOptions {
  config: SshConfig;
  /** Names for the gateway's own host certificate. */
  hostPrincipals: string[];
  ca: SshCa;
  /** Revoked certificates are refused, and connections made with them are ended. */
  revocations: Revocations;
  policy: Policy;
  audit: AuditSink;
  recorder?: Recorder;
  logger: Logger;
  /**
   * Failed-authentication limits, counted in the shared store: after `perAddress` (20) failures
   * from one client address, or `perUser` (10) for one person (the Gatehouse user a certificate
   * names), within `windowSeconds` (60), further attempts are refused without verification
   * (audited once per window and limit).
   */
  authLimit?: { store: Store; perAddress?: number; perUser?: number; windowSeconds?: number };
}

export interface SshProxy {
  /** Starts listening at once; connections are refused until the host certificates exist. */
  listen(): Promise<void>;
  /** Resolves once host certificates are signed (the CA may live in a store that is not up yet). */
  ready(): Promise<void>;
  /** host:port actually bound. */
  address(): { host: string; port: number };
  close(): Promise<void>;
}

/** Authentication requests per connection before it is closed (OpenSSH's MaxAuthTries is 6). */
const MAX_AUTH_TRIES = 10;

interface Authenticated {
  identity: ExternalIdentity;
  access: Access;
  cert: ParsedCertificate;
}

/**
 * The SSH listener. People connect with stock OpenSSH and their Gatehouse user certificate:
 * `ssh -J gateway:3022 login@node`. The jump's direct-tcpip channel to a configured node is not
 * passed through: a second SSH server runs over it (presenting a host certificate for the node's
 * name), authenticates the person again, checks the login against policy for that node, and
 * re-originates to the node with a fresh certificate for that login. Sessions are bridged channel
 * by channel, so they can be recorded and audited.
 */
export function createSshProxy(options: SshProxyOptions): SshProxy {
  const { config, ca, audit, logger } = options;
  const hostKeys = createHostKeys(ca);
  const nodes = new Map(config.nodes.map((n) => [n.name, n]));
  const emit = bestEffort(audit, logger);
  // Open connections, with the certificate each authenticated with, so a revocation can end them.
  const connections = new Map<Connection, ParsedCertificate | undefined>();
  const track = (conn: Connection) => {
    connections.set(conn, undefined);
    conn.on('close', () => connections.delete(conn));
  };
  const authenticatedWith = (conn: Connection, cert: ParsedCertificate) => {
    if (connections.has(conn)) connections.set(conn, cert);
  };
  let revocationWatch: ReturnType<Revocations['watch']> | undefined;
  const endRevoked = (revocation: Parameters<typeof covers>[0]) => {
    for (const [conn, cert] of connections) {
      if (!cert || !covers(revocation, cert)) continue;
      logger.info({ user: cert.keyId, serial: cert.serial.toString() }, 'ending an SSH connection: its certificate was revoked');
      conn.end();
    }
  };

  // Failed attempts per client address and per person; a refusal past the limit is counted in
  // its own key so that only the first one of a window is audited. "Person" is the Gatehouse user
  // a certificate names (its key id, read without verifying anything): SSH usernames are shared
  // (the jump's `gatehouse@`, node logins such as root), so counting them would let anyone lock
  // everybody out. Plain keys and other methods name no person: they count per address only.
  const limit = options.authLimit;
  const windowSeconds = limit?.windowSeconds ?? 60;
  const failuresByAddress = limit && createFixedWindowLimiter(limit.store, { name: 'ssh-auth:addr', limit: limit.perAddress ?? 20, windowSeconds });
  const failuresByUser = limit && createFixedWindowLimiter(limit.store, { name: 'ssh-auth:user', limit: limit.perUser ?? 10, windowSeconds });
  const refusals = limit && createFixedWindowLimiter(limit.store, { name: 'ssh-auth:refused', limit: 0, windowSeconds });
  const claimedUser = (ctx: AuthContext): string | undefined => {
    if (ctx.method !== 'publickey' || !isCertAlgorithm((ctx as PublicKeyAuthContext).key.algo)) return undefined;
    try {
      return parseCertificate((ctx as PublicKeyAuthContext).key.data).keyId || undefined;
    } catch {
      return undefined;
    }
  };
  const userKey = (user: string) => createHash('sha256').update(user).digest('hex').slice(0, 32);
  // Per connection: attempts so far (capped like OpenSSH's MaxAuthTries), and whether it already
  // counted a failure. Plain keys count only as a connection's first failure, so a client whose
  // agent offers several keys before its certificate costs one, not one per key.
  const attemptsOf = new WeakMap<Connection, { attempts: number; counted: boolean }>();
  const recordFailure = async (conn: Connection, context: RequestContext, user: string | undefined, plainKey = false) => {
    const seen = attemptsOf.get(conn) ?? { attempts: 0, counted: false };
    attemptsOf.set(conn, seen);
    if (!failuresByAddress || !failuresByUser || (plainKey && seen.counted)) return;
    seen.counted = true;
    // Store away: nothing is counted, and the revocation check that follows refuses with a clear message.
    await Promise.all([failuresByAddress.hit(String(context.remoteAddr)), user ? failuresByUser.hit(userKey(user)) : undefined]).catch(() => undefined);
  };
  const limitedBy = async (context: RequestContext, person: string | undefined): Promise<'address' | 'user' | undefined> => {
    try {
      if (await failuresByAddress!.exhausted(String(context.remoteAddr))) return 'address';
      if (person && (await failuresByUser!.exhausted(userKey(person)))) return 'user';
    } catch {
      // Store away: not limited here; the session is refused later, when revocation cannot be checked.
    }
    return undefined;
  };

  /** Cert + signature checks shared by the outer and inner servers; null = refuse quietly. */
  async function authenticate(conn: Connection, ctx: AuthContext, context: RequestContext, stage: 'gateway' | 'node'): Promise<Authenticated | 'query' | null> {
    // `none` is how every client starts (asking which methods exist): not a failure.
    if (ctx.method === 'none') return null;
    const tries = attemptsOf.get(conn) ?? { attempts: 0, counted: false };
    attemptsOf.set(conn, tries);
    if (++tries.attempts > MAX_AUTH_TRIES) {
      conn.end();
      return null;
    }
    const person = claimedUser(ctx);
    if (failuresByAddress && failuresByUser && refusals) {
      const which = await limitedBy(context, person);
      if (which) {
        const refusal = await refusals.hit(`${which}:${which === 'address' ? String(context.remoteAddr) : userKey(person!)}`);
        if (refusal.first) {
          emit({
            type: 'ssh.auth',
            outcome: 'failure',
            user: person ?? ctx.username,
            reason: 'ssh_rate_limited',
            context,
            details: { stage, login: ctx.username, limit: which, window_s: windowSeconds },
          });
          sendAuthBanner(conn, 'gatehouse: too many failed authentication attempts; wait a minute and try again.');
        }
        return null;
      }
    }
    if (ctx.method !== 'publickey') {
      await recordFailure(conn, context, undefined);
      return null;
    }
    const pk = ctx as PublicKeyAuthContext;
    if (!isCertAlgorithm(pk.key.algo)) {
      // A plain key is never accepted: only Gatehouse certificates are. Audited, with the key.
      await recordFailure(conn, context, undefined, true);
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
      const cert = await ca.checkUser(pk.key.data, { now: Math.floor(Date.now() / 1000), knownCriticalOptions: [GATEWAY_ONLY_OPTION] });
      const identity = identityFromCert(cert);
      if (await options.revocations.isRevoked(cert))
        throw new GatehouseError('cert_revoked', 'This certificate has been revoked; run `gatehouse login` for a new one.', { status: 401 });
      if (!pk.signature) return 'query';
      if (!pk.blob || !(await verifySshSignature(cert.publicKey, pk.signature, pk.blob)))
        throw Object.assign(new Error('bad signature'), { code: 'signature_invalid' });
      return { identity, access: resolveAccess(identity, options.policy), cert };
    } catch (err) {
      const code = isGatehouseError(err) ? err.code : ((err as { code?: string }).code ?? 'cert_invalid');
      await recordFailure(conn, context, person).catch((e) => logger.error({ err: e }, 'counting an SSH auth failure failed'));
      // Audit once per attempt: the signed request, or the query when the cert itself is bad.
      emit({ type: 'ssh.auth', outcome: 'failure', user: ctx.username, reason: code, context, details: { stage, login: ctx.username, key_algo: pk.key.algo } });
      if (isGatehouseError(err)) sendAuthBanner(conn, `gatehouse: ${err.message}`);
      return null;
    }
  }

  // The inner server: one per process, fed the jump channels. Which node a connection is for is
  // looked up by its stream.
  const jumps = new WeakMap<object, { node: SshNodeConfig; outer: Authenticated; context: RequestContext }>();
  const inner: Server = new ssh2.Server({ hostKeys: [hostKeys.privateKey], ident: 'Gatehouse' }, (conn) => {
    const jump = jumps.get((conn as unknown as { _sock: object })._sock);
    if (!jump) return void conn.end();
    track(conn);
    conn.on('error', (err) => logger.debug({ err: err.message }, 'ssh jump connection error'));
    const { node, context } = jump;
    let upstream: Client | undefined;
    let closed = false;
    let jumpConn: JumpConnection | undefined;
    // Before KEXINIT goes out, which is right after this event: certificates are signed ahead.
    const certBlob = hostKeys.cached([node.name]);
    if (!certBlob) return void conn.end();
    presentHostCertificate(conn, hostKeys.key, certBlob);

    conn.on('authentication', (ctx) => {
      void (async () => {
        const result = await authenticate(conn, ctx, context, 'node');
        if (result === 'query') return ctx.accept();
        if (!result) return ctx.reject(['publickey']);
        const login = ctx.username;
        const { identity, access } = result;
        const { allowed: mayLogIn, logins: allowed } = checkNodeLogin(access, node, login);
        if (identity.username !== jump.outer.identity.username || !mayLogIn) {
          const why = allowed.length
            ? `gatehouse: ${identity.username} may not log in as "${login}" on ${node.name} (allowed: ${allowed.join(', ')}).`
            : `gatehouse: ${identity.username} has no login on ${node.name}.`;
          sendAuthBanner(conn, why);
          emit({
            type: 'access.denied',
            outcome: 'failure',
            user: identity.username,
            connector: identity.connector,
            roles: access.roles,
            reason: 'login_not_allowed',
            context,
            details: { node: node.name, login, allowed },
          });
          return ctx.reject([]);
        }
        authenticatedWith(conn, result.cert); // from here on, a revocation ends this connection
        try {
          const agent = access.agentForwarding ? new ForwardedAgent(conn, { identity, access, node, login, context }, emit, logger) : undefined;
          upstream = await connectUpstream({ node, login, user: identity.username, access, ca, requireHostKey: config.require_host_key, agent });
        } catch (err) {
          sendAuthBanner(conn, `gatehouse: ${(err as Error).message}`);
          emit({
            type: 'ssh.auth',
            outcome: 'failure',
            user: identity.username,
            connector: identity.connector,
            roles: access.roles,
            reason: isGatehouseError(err) ? err.code : 'node_unreachable',
            context,
            details: { stage: 'upstream', node: node.name, login, error: (err as Error).message },
          });
          return ctx.reject([]);
        }
        // The client may have gone while we connected: nothing else would end this upstream.
        if (closed) return void upstream.end();
        upstream.on('close', () => conn.end());
        jumpConn = { identity, access, node, login, upstream, context };
        emit({
          type: 'ssh.auth',
          outcome: 'success',
          user: identity.username,
          connector: identity.connector,
          roles: access.roles,
          context,
          details: {
            stage: 'node',
            node: node.name,
            login,
            cert_serial: result.cert.serial.toString(),
            key_fingerprint: fingerprint(result.cert.publicKey.blob),
          },
        });
        ctx.accept();
      })().catch((err) => {
        logger.error({ err }, 'ssh authentication failed unexpectedly');
        ctx.reject([]);
      });
    });
    conn.on('ready', () => {
      conn.on('session', (accept) => bridgeSession(accept(), jumpConn!, { audit, recorder: options.recorder, envAllow: config.env, logger }));
      handlePortForwarding(conn, jumpConn!, emit);
    });
    conn.on('close', () => {
      closed = true;
      upstream?.end();
    });
  });
  inner.on('error', (err: Error) => logger.warn({ err: err.message }, 'ssh inner server error'));

  const outer: Server = new ssh2.Server({ hostKeys: [hostKeys.privateKey], ident: 'Gatehouse' }, (conn, info) => {
    track(conn);
    conn.on('error', (err) => logger.debug({ err: err.message }, 'ssh connection error'));
    const certBlob = hostKeys.cached(options.hostPrincipals);
    if (!certBlob) return void conn.end();
    presentHostCertificate(conn, hostKeys.key, certBlob);
    const context: RequestContext = { remoteAddr: info.ip };
    let authed: Authenticated | undefined;
    conn.on('authentication', (ctx) => {
      authenticate(conn, ctx, context, 'gateway').then(
        (result) => {
          if (result === 'query') return ctx.accept();
          if (!result) return ctx.reject(['publickey']);
          authed = result;
          authenticatedWith(conn, result.cert);
          ctx.accept();
        },
        (err) => {
          logger.error({ err }, 'ssh authentication failed unexpectedly');
          ctx.reject(['publickey']);
        },
      );
    });
    conn.on('ready', () => {
      conn.on('session', (_accept, reject) => rejectChannel(conn, reject, 'gatehouse: use ssh -J <gateway> login@node'));
      conn.on('tcpip', (accept, reject, dest) => {
        const { identity, access } = authed!;
        const node = nodes.get(dest.destIP);
        const deny = (reason: string, message: string) => {
          emit({
            type: 'access.denied',
            outcome: 'failure',
            user: identity.username,
            connector: identity.connector,
            roles: access.roles,
            reason,
            context,
            details: { node: dest.destIP, port: dest.destPort },
          });
          rejectChannel(conn, reject, message);
        };
        if (!node) return deny('unknown_node', `gatehouse: unknown node "${dest.destIP}"`);
        // Re-resolve: policy may have changed since the connection was authenticated.
        if (allowedLogins(resolveAccess(identity, options.policy), node.labels).length === 0)
          return deny('no_login_on_node', `gatehouse: ${identity.username} has no login on ${node.name}`);
        const stream = accept();
        jumps.set(stream, { node, outer: authed!, context });
        inner.injectSocket(stream as never);
      });
    });
  });
  outer.on('error', (err: Error) => logger.warn({ err: err.message }, 'ssh server error'));

  // Host certificates: the gateway's own names and every node's name, signed ahead and renewed.
  const signAll = () => Promise.all([hostKeys.certFor(options.hostPrincipals), ...config.nodes.map((n) => hostKeys.certFor([n.name]))]);
  let renewTimer: NodeJS.Timeout | undefined;
  let retryTimer: NodeJS.Timeout | undefined;
  let markReady: () => void = () => {};
  const readyPromise = new Promise<void>((resolve) => (markReady = resolve));

  // Start order never matters: when the CA's store is not reachable yet, keep trying with backoff.
  const signUntilDone = async (delayMs = 500): Promise<void> => {
    try {
      await signAll();
    } catch (err) {
      logger.warn({ err: (err as Error).message }, 'SSH host certificates not signed yet; retrying');
      retryTimer = setTimeout(() => void signUntilDone(Math.min(delayMs * 2, 10_000)), delayMs).unref();
      return;
    }
    markReady();
    renewTimer = setInterval(() => signAll().catch((err) => logger.error({ err }, 'renewing SSH host certificates failed')), 30 * 60_000).unref();
  };

  const [host, port] = [
    config.listen.slice(0, config.listen.lastIndexOf(':')).replace(/^\[|\]$/g, ''),
    Number(config.listen.slice(config.listen.lastIndexOf(':') + 1)),
  ];
  return {
    async listen() {
      revocationWatch = options.revocations.watch(endRevoked);
      await signUntilDone();
      outer.listen(port, host);
      await once(outer, 'listening');
    },
    ready: () => readyPromise,
    address() {
      const a = (outer as unknown as { address(): { address: string; port: number } }).address();
      return { host: a.address, port: a.port };
    },
    /** Stops accepting; open sessions get `ssh.shutdown_grace` to finish before they are ended. */
    async close() {
      clearInterval(renewTimer);
      clearTimeout(retryTimer);
      await revocationWatch?.close();
      const closed = new Promise<void>((resolve) => outer.close(() => resolve()));
      const endAll = () => {
        for (const conn of connections.keys()) conn.end();
      };
      const timer = setTimeout(endAll, config.shutdown_grace);
      await closed;
      clearTimeout(timer);
    },
  };
}
