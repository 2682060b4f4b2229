import type { Access } from '../../access/index.js';
import type { AuditInput, AuditSink } from '../../audit/sink.js';
import type { Clock } from '../../core/clock.js';
import type { RequestContext } from '../../core/types.js';
import type { Recorder, RecordingStream } from '../../recording/recorder.js';
import type { DbPeer } from './peer.js';

/** A statement as the protocol modules hand it over (PostgreSQL: simple or extended; MySQL: COM_QUERY or prepared). */
export interface AuditedStatement {
  protocol: string;
  text: string;
  cut: boolean;
  params?: { value: string | null; format?: string; cut: boolean }[];
  name?: string;
  /** The gateway refused to run it (MySQL: a db name not allowed, COM_CHANGE_USER): a failed db.query with this reason. */
  refused?: { reason: string; error: string };
}

export interface DbSessionInfo {
  id: string;
  peer: DbPeer;
  access: Access;
  database: string;
  protocol: 'postgres' | 'mysql';
  dbUser: string;
  dbName: string;
  context: RequestContext;
}

const crlf = (text: string) => text.replace(/\r?\n/g, '\r\n');
const quote = (v: string | null) => (v === null ? 'NULL' : `'${v.replace(/'/g, "''")}'`);

/**
 * The evidence of one database session: `db.session.start` (awaited: a session the audit log
 * cannot record does not start), one `db.query` per statement in order, `db.session.end` with
 * duration, bytes each way and statement count, and a transcript recording (asciicast: each
 * statement as a prompt line, then its result summary) that `gatehouse play` and /recordings replay.
 */
export function createSessionAudit(options: {
  audit: AuditSink;
  emit: (input: AuditInput) => Promise<void>;
  recorder?: Recorder;
  info: DbSessionInfo;
  maxChars: number;
  clock: Clock;
}) {
  const { info, emit } = options;
  const started = options.clock.now();
  let statements = 0;
  let recording: RecordingStream | undefined;
  const base = (): Omit<AuditInput, 'type' | 'outcome'> => ({
    user: info.peer.identity.username,
    connector: info.peer.identity.connector,
    roles: info.access.roles,
    session_id: info.id,
    context: info.context,
  });
  const where = { database: info.database, protocol: info.protocol, db_user: info.dbUser, db_name: info.dbName };
  const show = (text: string) => recording?.output(Buffer.from(text, 'utf8'));
  const cap = (v: string | null) => (v !== null && v.length > options.maxChars ? v.slice(0, options.maxChars) : v);

  return {
    async start(cert: { serial: string; valid_before: string }): Promise<void> {
      await options.audit.emit({
        type: 'db.session.start',
        outcome: 'success',
        ...base(),
        details: { ...where, cert_serial: cert.serial, cert_valid_before: cert.valid_before },
      });
      recording = options.recorder?.start({
        id: info.id,
        user: info.peer.identity.username,
        login: info.dbUser,
        node: info.database,
        command: `${info.protocol} ${info.dbName}`,
        kind: 'exec',
        cols: 120,
        rows: 40,
      });
    },

    statement(s: AuditedStatement): void {
      statements++;
      const params = s.params?.map((p) => ({
        value: cap(p.value),
        ...(p.format === 'binary' ? { format: 'binary' } : {}),
        ...(p.cut || (p.value?.length ?? 0) > options.maxChars ? { cut: true } : {}),
      }));
      void emit({
        type: 'db.query',
        outcome: s.refused ? 'failure' : 'success',
        ...base(),
        ...(s.refused ? { reason: s.refused.reason } : {}),
        details: {
          ...(s.refused ? { error: s.refused.error } : {}),
          ...where,
          statement: s.text,
          ...(s.cut ? { cut: true } : {}),
          sequence: statements,
          query_protocol: s.protocol,
          ...(s.name ? { prepared: s.name } : {}),
          ...(params ? { parameters: params } : {}),
        },
      });
      show(`${info.dbName}=> ${crlf(s.text)}${s.cut ? ' …(cut)' : ''}\r\n`);
      if (params?.length) show(`   ${params.map((p, i) => `$${i + 1} = ${quote(p.value)}`).join(', ')}\r\n`);
    },

    result(summary: string): void {
      show(`-- ${crlf(summary)}\r\n`);
    },

    /** A db.cancel event for this session's person (MySQL: a `KILL` statement, forwarded or refused). */
    cancel(outcome: 'success' | 'failure', details: Record<string, unknown>, reason?: string): void {
      void emit({
        type: 'db.cancel',
        outcome,
        ...base(),
        ...(reason ? { reason } : {}),
        details: { protocol: info.protocol, database: info.database, ...details },
      });
    },

    end(stats: { bytesFromClient: number; bytesFromServer: number; reason: string }): void {
      recording?.close({ exitCode: null });
      void emit({
        type: 'db.session.end',
        outcome: 'success',
        ...base(),
        details: {
          ...where,
          duration_ms: options.clock.now() - started,
          bytes_from_client: stats.bytesFromClient,
          bytes_from_server: stats.bytesFromServer,
          statements,
          ...(stats.reason === 'closed' ? {} : { ended_by: stats.reason }),
        },
      });
    },
  };
}

export type SessionAudit = ReturnType<typeof createSessionAudit>;
