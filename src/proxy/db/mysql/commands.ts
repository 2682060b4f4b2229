import type { AuditedStatement } from '../session-audit.js';
import type { Command, Verdict } from './command-stream.js';
import { decodeExecuteParams } from './params.js';
import type { Expect } from './responses.js';
import { splitMysqlStatements, stripComments } from './sql-split.js';
import { errPacket, packet } from './wire.js';

/*
 * What the gateway does with each client command of a relayed MySQL session: audits statements
 * (each statement of a COM_QUERY, each COM_STMT_EXECUTE with its statement's text and bound
 * parameters), checks default-database changes (COM_INIT_DB, `USE`) against the allowed db
 * names, maps `KILL` ids (the gateway's connection ids, never the server's) to the server's,
 * and refuses what it does not relay (COM_CHANGE_USER, replication).
 */

const COM = {
  QUIT: 0x01,
  INIT_DB: 0x02,
  QUERY: 0x03,
  FIELD_LIST: 0x04,
  PROCESS_INFO: 0x0a,
  PROCESS_KILL: 0x0c,
  CHANGE_USER: 0x11,
  BINLOG_DUMP: 0x12,
  TABLE_DUMP: 0x13,
  REGISTER_SLAVE: 0x15,
  STMT_PREPARE: 0x16,
  STMT_EXECUTE: 0x17,
  STMT_SEND_LONG_DATA: 0x18,
  STMT_CLOSE: 0x19,
  STMT_RESET: 0x1a,
  SET_OPTION: 0x1b,
  STMT_FETCH: 0x1c,
  BINLOG_DUMP_GTID: 0x1e,
  RESET_CONNECTION: 0x1f,
} as const;
const REPLICATION = new Set<number>([COM.BINLOG_DUMP, COM.TABLE_DUMP, COM.REGISTER_SLAVE, COM.BINLOG_DUMP_GTID]);

/** The outcome of a KILL check: the server's id to kill, or the error the client gets. */
export type KillDecision = { upstreamId: number } | { code: number; message: string };

export interface CommandDeps {
  maxChars: number;
  /** CLIENT_MULTI_STATEMENTS is in force (COM_SET_OPTION may change it). */
  multiStatements: boolean;
  /** Whether the person may make `name` the default database (undefined: allowed). */
  checkName(name: string): { reason: string; message: string } | undefined;
  /** Maps a `KILL` of a gateway connection id (audited there). */
  kill(gatewayId: number, what: 'query' | 'connection'): Promise<KillDecision>;
  statement(s: AuditedStatement): void;
  summary(text: string): void;
  expect(kind: Expect): void;
}

const KILL = /^KILL\s+(?:(?:HARD|SOFT)\s+)?(?:(QUERY|CONNECTION)\s+)?(\d+)\s*;?\s*$/i;
const USE = /^USE\s+(?:`((?:[^`]|``)+)`|([^\s;`]+))\s*;?\s*$/i;
const cap = (text: string, max: number, cut: boolean) => (text.length > max ? { text: text.slice(0, max), cut: true } : { text, cut });
const query = (text: string) => packet(0, Buffer.concat([Buffer.from([COM.QUERY]), Buffer.from(text, 'utf8')]));

export function createCommandHandler(deps: CommandDeps) {
  let multi = deps.multiStatements;
  /** Statement ids the server returned, with their text and parameter count (and the parameter types of their last execute). */
  const prepared = new Map<number, { text: string; cut: boolean; params: number; types?: number[]; longData: Set<number> }>();
  const pendingPrepares: { text: string; cut: boolean }[] = [];
  const refuse = (reply: Buffer, end = false): Verdict => ({ drop: true, reply, end });

  /** A refused statement: audited as a failed db.query, shown in the transcript, answered with an ERR. */
  const refuseStatement = (text: string, protocol: string, reason: string, code: number, sqlstate: string, message: string, end = false): Verdict => {
    deps.statement({ protocol, ...cap(text, deps.maxChars, false), refused: { reason, error: message } });
    deps.summary(`ERROR ${code} (${sqlstate}): gatehouse: ${message}`);
    return refuse(errPacket(1, code, sqlstate, `gatehouse: ${message}`), end);
  };

  async function kill(text: string, id: number, what: 'query' | 'connection', rewrite: (upstreamId: number) => Buffer): Promise<Verdict> {
    const decision = await deps.kill(id, what);
    if ('code' in decision) {
      deps.summary(`ERROR ${decision.code} (HY000): gatehouse: ${decision.message}`);
      return refuse(errPacket(1, decision.code, 'HY000', `gatehouse: ${decision.message}`));
    }
    deps.statement({ protocol: 'text', text, cut: false });
    deps.expect(text.startsWith('COM_') ? 'single' : 'result');
    return { replace: rewrite(decision.upstreamId) };
  }

  function onQuery(command: Command): Verdict | Promise<Verdict> {
    const sql = command.head.toString('utf8', 1);
    const parts = command.cut || !multi ? [sql.trim()] : splitMysqlStatements(sql);
    for (const part of parts) {
      const bare = stripComments(part);
      const use = USE.exec(bare);
      if (use) {
        const name = use[1]?.replace(/``/g, '`') ?? use[2];
        const refused = deps.checkName(name);
        if (refused) return refuseStatement(part, 'text', refused.reason, 1044, '42000', refused.message);
      }
      if (/^KILL\b/i.test(bare)) {
        const k = KILL.exec(bare);
        if (!k || parts.length > 1)
          return refuseStatement(
            part,
            'text',
            'db_cancel_refused',
            1095,
            'HY000',
            'through the gateway, KILL takes a connection id only, in a statement of its own',
          );
        const what = k[1]?.toLowerCase() === 'query' ? 'query' : 'connection';
        return kill(part, Number(k[2]), what, (upstream) => query(`KILL ${what === 'query' ? 'QUERY' : 'CONNECTION'} ${upstream}`));
      }
    }
    parts.forEach((part, i) => deps.statement({ protocol: 'text', ...cap(part, deps.maxChars, command.cut && i === parts.length - 1) }));
    deps.expect('result');
    return { forward: true };
  }

  return {
    decide(command: Command): Verdict | Promise<Verdict> {
      const head = command.head;
      const kind = head[0];
      switch (kind) {
        case COM.QUERY:
          return onQuery(command);
        case COM.INIT_DB: {
          const name = head.toString('utf8', 1);
          const refused = deps.checkName(name);
          if (refused) return refuseStatement(`USE \`${name}\``, 'init_db', refused.reason, 1044, '42000', refused.message);
          deps.statement({ protocol: 'init_db', text: `USE \`${name}\``, cut: false });
          deps.expect('single');
          return { forward: true };
        }
        case COM.STMT_PREPARE: {
          const text = head.toString('utf8', 1);
          if (/^KILL\b/i.test(stripComments(text)))
            return refuse(errPacket(1, 1295, 'HY000', 'gatehouse: KILL is not supported as a prepared statement through the gateway'));
          pendingPrepares.push(cap(text, deps.maxChars, command.cut));
          deps.expect('prepare');
          return { forward: true };
        }
        case COM.STMT_EXECUTE: {
          const id = head.length >= 5 ? head.readUInt32LE(1) : -1;
          const stmt = prepared.get(id);
          if (!stmt) deps.statement({ protocol: 'binary', text: '', cut: true, name: String(id) });
          else {
            const { params, types } = decodeExecuteParams(head.subarray(1), command.cut, stmt.params, stmt.types, stmt.longData);
            stmt.types = types;
            stmt.longData.clear();
            deps.statement({ protocol: 'binary', text: stmt.text, cut: stmt.cut, name: String(id), params });
          }
          deps.expect('result');
          return { forward: true };
        }
        case COM.STMT_SEND_LONG_DATA:
          if (head.length >= 7) prepared.get(head.readUInt32LE(1))?.longData.add(head.readUInt16LE(5));
          return { forward: true };
        case COM.STMT_CLOSE:
          if (head.length >= 5) prepared.delete(head.readUInt32LE(1));
          return { forward: true };
        case COM.STMT_RESET:
          if (head.length >= 5) prepared.get(head.readUInt32LE(1))?.longData.clear();
          deps.expect('single');
          return { forward: true };
        case COM.RESET_CONNECTION:
          prepared.clear();
          deps.expect('single');
          return { forward: true };
        case COM.SET_OPTION:
          if (head.length >= 3) multi = head.readUInt16LE(1) === 0;
          deps.expect('single');
          return { forward: true };
        case COM.STMT_FETCH:
          deps.expect('rows');
          return { forward: true };
        case COM.FIELD_LIST:
          deps.expect('until_eof');
          return { forward: true };
        case COM.PROCESS_INFO:
          deps.expect('result');
          return { forward: true };
        case COM.PROCESS_KILL: {
          const id = head.length >= 5 ? head.readUInt32LE(1) : 0;
          return kill(`COM_PROCESS_KILL ${id}`, id, 'connection', (upstream) => {
            const body = Buffer.alloc(5);
            body[0] = COM.PROCESS_KILL;
            body.writeUInt32LE(upstream, 1);
            return packet(0, body);
          });
        }
        case COM.CHANGE_USER:
          return refuseStatement(
            'COM_CHANGE_USER',
            'change_user',
            'db_command_refused',
            1045,
            '28000',
            'changing the user is not supported through the gateway; connect again as the other db user',
            true,
          );
        case COM.QUIT:
          return { forward: true };
        default:
          if (REPLICATION.has(kind))
            return refuseStatement(
              `COM_${kind.toString(16)}`,
              'replication',
              'db_command_refused',
              1227,
              '42000',
              'replication is not supported through the gateway',
              true,
            );
          deps.expect('single');
          return { forward: true };
      }
    },

    /** The server answered a COM_STMT_PREPARE (in order): its statement id, or undefined when it refused. */
    prepared(id: number | undefined, params: number) {
      const text = pendingPrepares.shift();
      if (id === undefined || !text) return;
      prepared.set(id, { ...text, params, longData: new Set() });
    },
  };
}
