import { once } from 'node:events';
import ssh2, { type Client, type Server } from 'ssh2';
import { allowedLogins, resolveAccess, type Policy } from '../../access/index.js';
import { checkNodeLogin } from '../../access/node-login.js';
import { type AuditSink, bestEffort } from '../../audit/sink.js';
import type { SshConfig, SshNodeConfig } from '../../config/schema.js';
import { systemClock, type Clock } from '../../core/clock.js';
import { isGatehouseError } from '../../core/errors.js';
import type { Logger } from '../../core/logger.js';
import type { RequestContext } from '../../core/types.js';
import type { Recorder } from '../../recording/recorder.js';
import type { SshCa } from '../../ssh-ca/ca.js';
import { fingerprint } from '../../ssh-ca/keys.js';
import type { Revocations } from '../../ssh-ca/revocation.js';
import type { Subscription } from '../../store/subscription.js';
import { createAuthLimits, type AuthLimitOptions } from './auth-limits.js';
import { createAuthenticate, type Authenticated } from './authenticate.js';
import { createOpenConnections } from './connections.js';
import type { RequestBoundSessions } from '../../requests/bound-sessions.js';
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
  /** Connections admitted under access requests end when those requests do. */
  requestSessions?: RequestBoundSessions;
  /** Failed-authentication limits (see AuthLimitOptions); without them only the per-connection cap applies. */
  authLimit?: AuthLimitOptions;
  /** Certificate validity, host and upstream certificates, session times. */
  clock?: Clock;
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
  const clock = options.clock ?? systemClock;
  const hostKeys = createHostKeys(ca, clock);
  const nodes = new Map(config.nodes.map((n) => [n.name, n]));
  const emit = bestEffort(audit, logger);
  const connections = createOpenConnections(logger, options.requestSessions);
  let revocationWatch: Subscription | undefined;
  const limits = createAuthLimits(options.authLimit);
  const authenticate = createAuthenticate({ ca, revocations: options.revocations, policy: options.policy, limits, emit, logger, clock });

  // The inner server: one per process, fed the jump channels. Which node a connection is for is
  // looked up by its stream.
  const jumps = new WeakMap<object, { node: SshNodeConfig; outer: Authenticated; context: RequestContext }>();
  const inner: Server = new ssh2.Server({ hostKeys: [hostKeys.privateKey], ident: 'Gatehouse' }, (conn) => {
    const jump = jumps.get((conn as unknown as { _sock: object })._sock);
    if (!jump) return void conn.end();
    connections.track(conn);
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
        if (result === 'closed') return;
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
        connections.authenticatedWith(conn, result.cert, access.requests); // from here on, a revocation ends this connection
        try {
          const agent = access.agentForwarding ? new ForwardedAgent(conn, { identity, access, node, login, context }, emit, logger) : undefined;
          upstream = await connectUpstream({ node, login, user: identity.username, access, ca, requireHostKey: config.require_host_key, agent, clock });
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
      conn.on('session', (accept) => bridgeSession(accept(), jumpConn!, { audit, recorder: options.recorder, envAllow: config.env, logger, clock }));
      handlePortForwarding(conn, jumpConn!, emit);
    });
    conn.on('close', () => {
      closed = true;
      upstream?.end();
    });
  });
  inner.on('error', (err: Error) => logger.warn({ err: err.message }, 'ssh inner server error'));

  const outer: Server = new ssh2.Server({ hostKeys: [hostKeys.privateKey], ident: 'Gatehouse' }, (conn, info) => {
    connections.track(conn);
    conn.on('error', (err) => logger.debug({ err: err.message }, 'ssh connection error'));
    const certBlob = hostKeys.cached(options.hostPrincipals);
    if (!certBlob) return void conn.end();
    presentHostCertificate(conn, hostKeys.key, certBlob);
    const context: RequestContext = { remoteAddr: info.ip };
    let authed: Authenticated | undefined;
    conn.on('authentication', (ctx) => {
      authenticate(conn, ctx, context, 'gateway').then(
        (result) => {
          if (result === 'closed') return;
          if (result === 'query') return ctx.accept();
          if (!result) return ctx.reject(['publickey']);
          authed = result;
          connections.authenticatedWith(conn, result.cert, result.access.requests);
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
      revocationWatch = options.revocations.watch(connections.endRevoked);
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
      const timer = setTimeout(connections.endAll, config.shutdown_grace);
      await closed;
      clearTimeout(timer);
    },
  };
}
