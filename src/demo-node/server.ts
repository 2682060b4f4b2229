import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import ssh2, { type Connection, type PublicKeyAuthContext, type ServerChannel, type Session } from 'ssh2';
import { seconds, systemClock, type Clock } from '../core/clock.js';
import type { Logger } from '../core/logger.js';
import { generateEd25519, openSshPrivateKey, publicKeyLine, publicKeyOf } from '../ssh-ca/keys.js';
import { checkCertLogin } from './auth.js';
import type { ToyContext } from './commands.js';
import { createToyShell, execOnce } from './shell.js';

/**
 * The demo's SSH node (`npm start` with no config): an ssh2 server on 127.0.0.1 inside the gateway
 * process, so that a newcomer can open the web terminal and replay their own recording with
 * nothing installed. It is a TOY: it trusts the gateway's user CA the way sshd does with
 * `TrustedUserCAKeys` (./auth.ts), and behind a login there is only the toy shell of
 * ./commands.ts. It never starts a process, opens a file, or forwards anything.
 */
export interface DemoNode {
  /** `127.0.0.1:<port>`: the node's `addr` in the config. */
  addr: string;
  /** Its host key (`ssh-ed25519 AAAA…`), generated at start: the node's pinned `host_key`. */
  hostKey: string;
  close(): Promise<void>;
}

export interface DemoNodeOptions {
  hostname: string;
  /** The user CA public key blobs to trust, read at each login (so a CA change applies at once). */
  trustedUserCas(): Promise<Buffer[]>;
  clock?: Clock;
  logger?: Pick<Logger, 'debug' | 'warn'>;
}

export async function startDemoNode(options: DemoNodeOptions): Promise<DemoNode> {
  const clock = options.clock ?? systemClock;
  const hostKey = generateEd25519();
  const connections = new Set<Connection>();
  const server = new ssh2.Server({ hostKeys: [openSshPrivateKey(hostKey, options.hostname)], ident: 'GatehouseDemoNode' }, (conn) => {
    connections.add(conn);
    conn.on('close', () => connections.delete(conn));
    conn.on('error', (err) => options.logger?.debug({ err: err.message }, 'demo node connection error'));
    let who: { login: string; user: string } | undefined;

    conn.on('authentication', (ctx) => {
      if (ctx.method !== 'publickey') return ctx.reject(['publickey']);
      void (async () => {
        const result = await checkCertLogin(ctx as PublicKeyAuthContext, await options.trustedUserCas(), seconds(clock.now()));
        if (result.ok === 'query') return ctx.accept();
        if (!result.ok) {
          options.logger?.debug({ login: ctx.username, reason: result.reason }, 'demo node refused a login');
          return ctx.reject(['publickey']);
        }
        who = { login: result.login, user: result.user };
        ctx.accept();
      })().catch((err: Error) => {
        options.logger?.warn({ err: err.message }, 'demo node authentication failed');
        ctx.reject(['publickey']);
      });
    });

    conn.on('ready', () => {
      const ctx: ToyContext = { login: who!.login, user: who!.user, hostname: options.hostname, now: () => clock.now() };
      // Nothing is forwarded: no TCP, no sockets, no agent, no X11.
      conn.on('request', (_accept, reject) => reject?.());
      conn.on('tcpip', (_accept, reject) => reject());
      conn.on('openssh.streamlocal', (_accept, reject) => reject());
      conn.on('session', (accept) => serveSession(accept(), ctx));
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  return {
    addr: `127.0.0.1:${port}`,
    hostKey: publicKeyLine(publicKeyOf(hostKey)),
    async close() {
      const closed = once(server, 'close');
      server.close();
      for (const conn of connections) conn.end();
      await closed;
    },
  };
}

/** One session channel: a pty and a shell (the web terminal), or one exec. No subsystems. */
function serveSession(session: Session, ctx: ToyContext): void {
  let pty = false;
  let started = false;
  const startOnce = (accept: (() => ServerChannel) | undefined, reject: (() => void) | undefined): ServerChannel | undefined => {
    if (started || !accept) return void reject?.();
    started = true;
    return accept();
  };
  const end = (channel: ServerChannel, status: number) => {
    channel.exit(status);
    channel.end();
  };
  session.on('error', () => {});
  session.on('pty', (accept) => {
    pty = true;
    accept?.();
  });
  session.on('window-change', (accept) => accept?.());
  session.on('env', (accept) => accept?.());
  session.on('signal', (accept) => accept?.());
  session.on('auth-agent', (_accept, reject) => reject?.());
  session.on('x11', (_accept, reject) => reject?.());
  session.on('subsystem', (_accept, reject) => reject?.());
  session.on('shell', (accept, reject) => {
    const channel = startOnce(accept, reject);
    if (!channel) return;
    channel.on('error', () => {});
    const shell = createToyShell(ctx, { write: (text) => void channel.write(text), exit: (status) => end(channel, status) });
    channel.on('data', (data: Buffer) => shell.input(data));
    shell.start();
  });
  session.on('exec', (accept, reject, { command }) => {
    const channel = startOnce(accept, reject);
    if (!channel) return;
    channel.on('error', () => {});
    const { output, status } = execOnce(command, ctx, pty);
    if (output) channel.write(output);
    end(channel, status);
  });
}
