import type { Client, ClientChannel, PseudoTtyInfo, ServerChannel, Session } from 'ssh2';
import type { Access } from '../../access/index.js';
import { matchesAny } from '../../access/match.js';
import { type AuditSink, bestEffort } from '../../audit/sink.js';
import type { SshNodeConfig } from '../../config/schema.js';
import { systemClock, type Clock } from '../../core/clock.js';
import type { Logger } from '../../core/logger.js';
import type { ExternalIdentity, RequestContext } from '../../core/types.js';
import { newSessionId } from '../../recording/ids.js';
import type { Recorder, RecordingStream } from '../../recording/recorder.js';
import { createSftpAuditor } from './sftp-audit.js';

/** One authenticated jump: who, as which login, on which node, over which upstream connection. */
export interface JumpConnection {
  identity: ExternalIdentity;
  access: Access;
  node: SshNodeConfig;
  login: string;
  upstream: Client;
  context: RequestContext;
  /** How the person came in when not with an SSH client (`web-terminal`); recorded in audit details. */
  via?: string;
}

export interface SessionDeps {
  audit: AuditSink;
  recorder?: Recorder;
  /** Environment variables clients may pass (globs). */
  envAllow: string[];
  logger: Logger;
  /** Session start and duration. */
  clock?: Clock;
}

type Reply = (() => void) | undefined;
type Kind = 'shell' | 'exec' | 'sftp' | 'subsystem';

/**
 * One session channel, bridged to a session channel on the node: pty and window changes, env
 * (allowlisted), shell / exec / the sftp subsystem, signals, exit status and signal. A session
 * with a pty is recorded; every session is audited (session.start, session.end; exec; sftp.*).
 */
export function bridgeSession(session: Session, conn: JumpConnection, deps: SessionDeps): void {
  let pty: PseudoTtyInfo | undefined;
  const env: Record<string, string> = {};
  let started = false;
  let agentForward = false;
  let upstream: ClientChannel | undefined;
  let recording: RecordingStream | undefined;
  const ok = (accept: Reply) => accept?.();
  const emit = bestEffort(deps.audit, deps.logger);
  const clock = deps.clock ?? systemClock;

  session.on('error', () => {});
  session.on('pty', (accept, _reject, info) => {
    pty = info;
    ok(accept);
  });
  session.on('env', (accept, reject, { key, val }) => {
    if (matchesAny(deps.envAllow, key)) {
      env[key] = val;
      ok(accept);
    } else reject?.();
  });
  session.on('window-change', (accept, _reject, info) => {
    if (pty) Object.assign(pty, { cols: info.cols, rows: info.rows, width: info.width, height: info.height });
    upstream?.setWindow(info.rows, info.cols, info.height, info.width);
    recording?.resize(info.cols, info.rows);
    ok(accept);
  });
  session.on('signal', (accept, _reject, { name }) => {
    upstream?.signal(name);
    ok(accept);
  });
  session.on('auth-agent', (accept, reject) => {
    if (conn.access.agentForwarding) {
      agentForward = true;
      return ok(accept);
    }
    reject?.();
    void emit({ type: 'access.denied', outcome: 'failure', ...base(), reason: 'agent_forwarding_not_allowed', details: { ...where, kind: 'auth-agent' } });
  });
  session.on('x11', (_accept, reject) => reject?.());
  session.on('shell', (accept, reject) => void start('shell', undefined, accept, reject));
  session.on('exec', (accept, reject, { command }) => void start('exec', command, accept, reject));
  session.on('subsystem', (accept, reject, { name }) => (name === 'sftp' ? void start('sftp', undefined, accept, reject) : reject?.()));

  const base = () => ({ user: conn.identity.username, connector: conn.identity.connector, roles: conn.access.roles, context: conn.context });
  const where = { node: conn.node.name, node_addr: conn.node.addr, login: conn.login, ...(conn.via ? { via: conn.via } : {}) };

  function start(kind: Kind, command: string | undefined, accept: (() => ServerChannel) | undefined, reject: Reply) {
    if (started || !accept) return reject?.();
    started = true;
    // Accept at once: ssh2 refuses a late accept once the client has sent EOF (exec with no input),
    // and input that arrives meanwhile waits in the channel's buffer until the node is ready.
    const down = accept();
    if (!down) return;
    down.pause();
    down.on('error', () => {});
    void run(kind, command, down);
  }

  async function run(kind: Kind, command: string | undefined, down: ServerChannel) {
    const id = newSessionId();
    const startedAt = clock.now();
    const recorded = Boolean(pty) && kind !== 'sftp' && deps.recorder !== undefined;
    const refuse = (message: string) => {
      down.stderr.write(`gatehouse: ${message}\r\n`);
      down.exit(255);
      down.end();
    };
    try {
      await deps.audit.emit({
        type: 'session.start',
        outcome: 'success',
        ...base(),
        session_id: id,
        details: { ...where, kind, command, pty: Boolean(pty), recorded, agent_forwarding: agentForward || undefined },
      });
    } catch (err) {
      deps.logger.error({ err }, 'audit write failed; refusing the session');
      return refuse('the audit log is unavailable, so sessions are refused');
    }
    let up: ClientChannel;
    let exit: UpstreamExit;
    try {
      ({ up, exit } = await openUpstream(conn.upstream, kind, command, pty, env, agentForward));
    } catch (err) {
      refuse(`${conn.node.name} refused the session: ${(err as Error).message}`);
      await emit({
        type: 'session.end',
        outcome: 'failure',
        ...base(),
        session_id: id,
        reason: 'node_session_refused',
        details: { ...where, kind, command, error: (err as Error).message },
      });
      return;
    }
    upstream = up;
    if (recorded && pty) {
      recording = deps.recorder!.start(
        {
          id,
          user: conn.identity.username,
          login: conn.login,
          node: conn.node.name,
          command,
          kind: kind === 'exec' ? 'exec' : 'shell',
          cols: pty.cols || 80,
          rows: pty.rows || 24,
          term: pty.term,
        },
        Object.fromEntries(Object.entries(env).filter(([k]) => k === 'LANG' || k.startsWith('LC_'))),
      );
    }
    const sftp =
      kind === 'sftp'
        ? createSftpAuditor((type, outcome, details) => void emit({ type, outcome, ...base(), session_id: id, details: { ...where, ...details } }))
        : undefined;

    let bytesIn = 0;
    let bytesOut = 0;
    up.on('data', (data: Buffer) => {
      bytesOut += data.length;
      recording?.output(data);
      sftp?.fromServer(data);
    });
    up.stderr.on('data', (data: Buffer) => {
      bytesOut += data.length;
      recording?.output(data);
    });
    down.on('data', (data: Buffer) => {
      bytesIn += data.length;
      recording?.input(data);
      sftp?.fromClient(data);
    });
    up.pipe(down, { end: false });
    up.stderr.pipe(down.stderr, { end: false });
    down.pipe(up);
    down.resume();
    up.on('error', () => {});

    let finished = false;
    const finish = async () => {
      if (finished) return;
      finished = true;
      if (exit.signal) down.exit(exit.signal.replace(/^SIG/, ''), exit.dumped ?? false, exit.desc ?? '');
      else if (typeof exit.code === 'number') down.exit(exit.code);
      down.end();
      up.close();
      const meta = recording?.close({ exitCode: exit.code, exitSignal: exit.signal });
      sftp?.close();
      const result = { exit_code: exit.code ?? null, exit_signal: exit.signal };
      if (kind === 'exec')
        await emit({
          type: 'exec',
          outcome: exit.code === 0 ? 'success' : 'failure',
          ...base(),
          session_id: id,
          details: { ...where, command, pty: Boolean(pty), ...result },
        });
      await emit({
        type: 'session.end',
        outcome: 'success',
        ...base(),
        session_id: id,
        details: {
          ...where,
          kind,
          command,
          ...result,
          bytes_in: bytesIn,
          bytes_out: bytesOut,
          duration_ms: clock.now() - startedAt,
          recording: meta ? id : null,
          recording_sha256: meta?.sha256,
          recording_truncated: meta?.truncated ?? undefined,
        },
      });
    };
    up.on('close', () => void finish());
    down.on('close', () => void finish());
  }
}

export type UpstreamExit = { code?: number | null; signal?: string; dumped?: boolean; desc?: string };

/**
 * Opens the node's channel. Its exit status is captured from the moment the channel exists: ssh2
 * parses a whole read at once, so a fast command's exit-status can be emitted before the caller's
 * continuation runs, and an 'exit' listener added there would miss it.
 */
function openUpstream(
  client: Client,
  kind: Kind,
  command: string | undefined,
  pty: PseudoTtyInfo | undefined,
  env: Record<string, string>,
  agentForward: boolean,
): Promise<{ up: ClientChannel; exit: UpstreamExit }> {
  const window = pty ? { rows: pty.rows, cols: pty.cols, height: pty.height, width: pty.width, term: pty.term, modes: pty.modes } : undefined;
  return new Promise((resolve, reject) => {
    const done = (err: Error | undefined, up: ClientChannel) => {
      if (err) return reject(err);
      const exit: UpstreamExit = {};
      up.on('exit', (code: number | null, signal?: string, dumped?: boolean, desc?: string) => Object.assign(exit, { code, signal, dumped, desc }));
      resolve({ up, exit });
    };
    // agentForward is a per-channel option of ssh2 that its typings leave out.
    const options = { env, agentForward };
    if (kind === 'shell') client.shell(window ?? false, options, done);
    else if (kind === 'exec') client.exec(command ?? '', { ...options, pty: window ?? false }, done);
    else client.subsys('sftp', done);
  });
}
