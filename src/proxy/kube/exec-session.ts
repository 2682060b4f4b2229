import { type AuditSink, bestEffort } from '../../audit/sink.js';
import type { Clock } from '../../core/clock.js';
import type { RequestContext } from '../../core/types.js';
import { randomUUID } from 'node:crypto';
import type { Logger } from '../../core/logger.js';
import type { ExecRecorder, ExecRecording } from './recording.js';
import type { RequestInfo } from './request-info.js';
import { createChannelTap } from './ws-tap.js';

/** Channels of Kubernetes' stream protocols. */
const STDOUT = 1;
const STDERR = 2;
const STATUS = 3;
const RESIZE = 4;
const MAX_SMALL = 64 * 1024;

export interface ExecSessionOptions {
  audit: AuditSink;
  logger: Logger;
  recorder?: ExecRecorder;
  /** For the session's duration. */
  clock: Clock;
  cluster: string;
  user: string;
  connector?: string;
  roles: string[];
  info: RequestInfo;
  query: URLSearchParams;
  /** The negotiated protocol: a WebSocket subprotocol (`v5.channel.k8s.io`) or `SPDY/3.1`. */
  protocol: string;
  websocket: boolean;
  context: RequestContext;
}

export interface ExecSession {
  /** The session id (a UUID), also the recording's. */
  id: string;
  /** Bytes the API server sent to the client (before they are written on). */
  server(chunk: Buffer): void;
  /** Bytes the client sent to the API server. */
  client(chunk: Buffer): void;
  /** Closes the recording and audits session.end, once. */
  end(reason?: string): Promise<void>;
}

/**
 * One `kubectl exec` or `attach`: `session.start` (durable before any byte flows: if the audit
 * log cannot take it, the session is refused), the output recorded from the stdout and stderr
 * channels of the WebSocket protocols, and `session.end` with the exit status. SPDY streams
 * are passed through and audited, but not recorded (its frames are zlib-compressed per stream).
 */
export async function startExecSession(options: ExecSessionOptions): Promise<ExecSession> {
  const { info, query } = options;
  const container = query.get('container') ?? undefined;
  const command = query.getAll('command');
  const tty = query.get('tty') === 'true' || query.get('tty') === '1';
  // Session ids are UUIDs, like SSH sessions': the recording (when there is one) has the same id.
  const sessionId = randomUUID();

  let recording: ExecRecording | undefined;
  let notRecorded: string | undefined;
  if (!options.websocket) notRecorded = 'spdy_not_recorded';
  else if (!options.recorder) notRecorded = 'recording_disabled';
  else {
    try {
      recording = await options.recorder.start({
        id: sessionId,
        user: options.user,
        cluster: options.cluster,
        namespace: info.namespace ?? 'default',
        pod: info.name ?? '',
        container,
        command: command.length ? command : undefined,
        tty,
      });
    } catch (err) {
      options.logger.error({ err }, 'kube exec recording could not start');
      notRecorded = 'recording_failed';
    }
  }
  const details = {
    kind: `kube.${info.subresource}`,
    namespace: info.namespace,
    pod: info.name,
    container,
    command: command.length ? command : undefined,
    tty,
    stdin: query.get('stdin') === 'true' || query.get('stdin') === '1',
    protocol: options.protocol,
    recorded: Boolean(recording),
    not_recorded: notRecorded,
  };
  const common = {
    user: options.user,
    connector: options.connector,
    roles: options.roles,
    cluster: options.cluster,
    session_id: sessionId,
    context: options.context,
  };
  try {
    await options.audit.emit({ type: 'session.start', outcome: 'success', ...common, details });
  } catch (err) {
    await recording?.close({}).catch(() => undefined);
    throw err;
  }

  const started = options.clock.now();
  let bytesOut = 0;
  let status: Buffer[] = [];
  let statusSize = 0;
  let resize: Buffer[] = [];
  const base64 = options.protocol.startsWith('base64.');
  const fromServer = createChannelTap(
    (channel, data) => {
      if (channel === STDOUT || channel === STDERR) {
        bytesOut += data.length;
        recording?.output(data);
      } else if (channel === STATUS && statusSize + data.length <= MAX_SMALL) {
        status.push(data);
        statusSize += data.length;
      }
    },
    { base64 },
  );
  const fromClient = createChannelTap(
    (channel, data) => {
      if (channel !== RESIZE) return;
      resize.push(data);
      try {
        const size = JSON.parse(Buffer.concat(resize).toString('utf8')) as { Width?: number; Height?: number };
        resize = [];
        if (size.Width && size.Height) recording?.resize(size.Width, size.Height);
      } catch {
        if (resize.reduce((n, b) => n + b.length, 0) > MAX_SMALL) resize = [];
      }
    },
    { base64 },
  );

  let ended = false;
  return {
    id: sessionId,
    server(chunk) {
      if (options.websocket) fromServer.write(chunk);
    },
    client(chunk) {
      if (options.websocket) fromClient.write(chunk);
    },
    async end(reason?: string) {
      if (ended) return;
      ended = true;
      const result = parseStatus(Buffer.concat(status));
      status = [];
      await recording?.close({ exitCode: result?.exitCode ?? null }).catch((err) => options.logger.error({ err }, 'kube exec recording could not be closed'));
      await bestEffort(
        options.audit,
        options.logger,
      )({
        type: 'session.end',
        outcome: 'success',
        ...common,
        details: {
          ...details,
          duration_ms: options.clock.now() - started,
          bytes_out: bytesOut,
          exit_code: result?.exitCode,
          status: result?.status,
          ended_by: reason,
        },
      });
    },
  };
}

/** The status document on channel 3: Success, or Failure with an ExitCode cause. */
function parseStatus(raw: Buffer): { status?: string; exitCode?: number } | undefined {
  if (!raw.length) return undefined;
  try {
    const doc = JSON.parse(raw.toString('utf8')) as { status?: string; details?: { causes?: { reason?: string; message?: string }[] } };
    const exit = doc.details?.causes?.find((c) => c.reason === 'ExitCode')?.message;
    return { status: doc.status, exitCode: doc.status === 'Success' ? 0 : exit !== undefined ? Number(exit) : undefined };
  } catch {
    return undefined;
  }
}
