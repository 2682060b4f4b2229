import type { Duplex } from 'node:stream';
import ssh2, { type Connection } from 'ssh2';
import type { AuditInput } from '../../audit/sink.js';
import type { Logger } from '../../core/logger.js';
import type { JumpConnection } from './session.js';
import { openAgentChannel, rejectChannel } from './ssh2-extensions.js';

type Emit = (input: AuditInput) => void;

/** Both ways until either side ends; a reset on one side is not an error of ours. */
function splice(a: Duplex, b: Duplex): void {
  a.on('error', () => b.destroy());
  b.on('error', () => a.destroy());
  a.pipe(b).pipe(a);
}

/**
 * Port forwarding on a jump connection, only when a role allows it (`port_forwarding`):
 * `ssh -L` opens direct-tcpip channels that leave from the node; `ssh -R` asks the node to
 * listen, and each connection it accepts comes back to the client as a forwarded-tcpip channel.
 * Every forward is audited (session.start with `kind`); every refusal is an access.denied.
 */
export function handlePortForwarding(conn: Connection, jump: JumpConnection, emit: Emit): void {
  const { identity, access, node, login, upstream, context } = jump;
  const base = { user: identity.username, connector: identity.connector, roles: access.roles, context };
  const where = { node: node.name, login };
  const deny = (kind: string) =>
    emit({ type: 'access.denied', outcome: 'failure', ...base, reason: 'port_forwarding_not_allowed', details: { ...where, kind } });

  conn.on('tcpip', (accept, reject, info) => {
    if (!access.portForwarding) {
      deny('direct-tcpip');
      return rejectChannel(conn, reject, 'gatehouse: port forwarding is not allowed for your roles');
    }
    upstream.forwardOut(info.srcIP, info.srcPort, info.destIP, info.destPort, (err, up) => {
      if (err) return reject();
      emit({ type: 'session.start', outcome: 'success', ...base, details: { ...where, kind: 'direct-tcpip', dest: `${info.destIP}:${info.destPort}` } });
      splice(accept(), up);
    });
  });

  conn.on('request', (accept, reject, name, info) => {
    if (name !== 'tcpip-forward' && name !== 'cancel-tcpip-forward') return reject?.();
    const { bindAddr, bindPort } = info as { bindAddr: string; bindPort: number };
    if (name === 'cancel-tcpip-forward') return void upstream.unforwardIn(bindAddr, bindPort, (err) => (err ? reject?.() : accept?.()));
    if (!access.portForwarding) {
      deny('tcpip-forward');
      return reject?.();
    }
    upstream.forwardIn(bindAddr, bindPort, (err, port) => {
      if (err) return reject?.();
      emit({ type: 'session.start', outcome: 'success', ...base, details: { ...where, kind: 'tcpip-forward', bind: `${bindAddr}:${port}` } });
      (accept as ((port?: number) => void) | undefined)?.(port);
    });
  });

  // Connections the node accepted on a -R listener go back to the client.
  upstream.on('tcp connection', (info, accept, reject) => {
    conn.forwardOut(info.destIP, info.destPort, info.srcIP, info.srcPort, (err, down) => {
      if (err) return reject();
      emit({
        type: 'session.start',
        outcome: 'success',
        ...base,
        details: { ...where, kind: 'forwarded-tcpip', bind: `${info.destIP}:${info.destPort}`, origin: `${info.srcIP}:${info.srcPort}` },
      });
      splice(down, accept());
    });
  });
}

/**
 * The agent the upstream connection forwards to the node when a session asked for `ssh -A`: each
 * use from the node opens an agent channel back to the person's client, and is audited. Keys never
 * leave the client; the gateway only relays the agent protocol and never signs with it itself.
 */
export class ForwardedAgent extends ssh2.BaseAgent {
  constructor(
    private readonly conn: Connection,
    private readonly who: Pick<JumpConnection, 'identity' | 'access' | 'node' | 'login' | 'context'>,
    private readonly emit: Emit,
    private readonly logger: Logger,
  ) {
    super();
  }

  override getIdentities(callback: (err: Error | undefined, keys?: never[]) => void): void {
    callback(new Error('the gateway does not authenticate with forwarded agents'));
  }

  override sign(_key: unknown, _data: Buffer, ...rest: unknown[]): void {
    (rest.at(-1) as (err: Error) => void)(new Error('the gateway does not sign with forwarded agents'));
  }

  override getStream(callback: (err: Error | undefined, stream?: Duplex) => void): void {
    const { identity, access, node, login, context } = this.who;
    openAgentChannel(this.conn).then(
      (stream) => {
        this.emit({
          type: 'session.start',
          outcome: 'success',
          user: identity.username,
          connector: identity.connector,
          roles: access.roles,
          context,
          details: { node: node.name, login, kind: 'auth-agent' },
        });
        callback(undefined, stream);
      },
      (err: Error) => {
        this.logger.debug({ err: err.message }, 'the client refused an agent channel');
        callback(err);
      },
    );
  }
}
