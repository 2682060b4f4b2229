import { MAX_PAYLOAD, PayloadReader, type Packet } from './wire.js';

/*
 * Follows the server's side of a session, packet by packet, to summarise each result for the
 * transcript (`OK, 1 row affected`, `3 rows`, `ERROR 1146 (42S02): …`), to learn the statement
 * ids COM_STMT_PREPARE returns, and to know when the client is sending a LOCAL INFILE file. The
 * protocol is request and response: each command the relay forwards says what answer to expect.
 */

/** What the answer to a forwarded command looks like. */
export type Expect = 'result' | 'prepare' | 'single' | 'until_eof' | 'rows';

const MORE_RESULTS = 0x0008;
const CURSOR_EXISTS = 0x0040;

const isEof = (p: Packet) => p.head[0] === 0xfe && p.length < 9;
const plural = (n: number, what: string) => `${n} ${what}${n === 1 ? '' : 's'}`;

/** `ERROR 1146 (42S02): Table 'x' doesn't exist`, from an ERR payload. */
export function errorSummary(head: Buffer): string {
  const r = new PayloadReader(head);
  r.uint(1);
  const code = r.uint(2) ?? 0;
  const state = head[3] === 0x23 ? ` (${head.toString('latin1', 4, 9)})` : '';
  const message = head.toString('utf8', state ? 9 : 3);
  return `ERROR ${code}${state}: ${message}`;
}

export interface ResponseHandlers {
  summary(text: string): void;
  /** A COM_STMT_PREPARE's answer: the statement id, or undefined when the server refused it. */
  prepared(statementId: number | undefined, params: number): void;
  /** The server asked for a LOCAL INFILE file: the client's next packets are its contents. */
  localInfile(): void;
}

export function createResponseTracker(handlers: ResponseHandlers) {
  const queue: Expect[] = [];
  let state: 'first' | 'columns' | 'rows' | 'skip' = 'first';
  let remaining = 0;
  let rows = 0;
  let lastSeq: number | undefined;
  let continuing = false;

  const done = (status = 0) => {
    if (status & MORE_RESULTS && queue[0] !== 'prepare') state = 'first';
    else {
      queue.shift();
      state = queue[0] === 'rows' ? 'rows' : 'first';
      lastSeq = undefined;
    }
    rows = 0;
  };
  const eofStatus = (p: Packet) => (p.head.length >= 5 ? p.head.readUInt16LE(3) : 0);

  const onFirst = (p: Packet, expect: Expect) => {
    const kind = p.head[0];
    if (kind === 0xff) {
      // A refused prepare ran nothing: the transcript shows statements when they execute.
      if (expect === 'prepare') handlers.prepared(undefined, 0);
      else handlers.summary(errorSummary(p.head));
      return done();
    }
    if (expect === 'single') return done();
    if (expect === 'prepare') {
      if (kind !== 0x00) return void (handlers.prepared(undefined, 0), done());
      const r = new PayloadReader(p.head);
      r.uint(1);
      const id = r.uint(4) ?? 0;
      const columns = r.uint(2) ?? 0;
      const params = r.uint(2) ?? 0;
      handlers.prepared(id, params);
      remaining = (params ? params + 1 : 0) + (columns ? columns + 1 : 0);
      if (remaining === 0) return done();
      state = 'skip';
      return;
    }
    if (expect === 'until_eof') {
      if (isEof(p)) done();
      return;
    }
    if (kind === 0x00) {
      const r = new PayloadReader(p.head);
      r.uint(1);
      const affected = r.lenenc() ?? 0;
      r.lenenc();
      const status = r.uint(2) ?? 0;
      handlers.summary(`OK, ${plural(affected, 'row')} affected`);
      return done(status);
    }
    if (kind === 0xfb) return handlers.localInfile(); // the OK or ERR after the file follows
    remaining = new PayloadReader(p.head).lenenc() ?? 0;
    state = 'columns';
  };

  return {
    /** A command went to the server; its answer looks like this. */
    expect(kind: Expect) {
      queue.push(kind);
      if (queue.length === 1) state = kind === 'rows' ? 'rows' : 'first';
    },

    onPacket(p: Packet) {
      const continuation = continuing;
      continuing = p.length === MAX_PAYLOAD;
      if (continuation) return;
      lastSeq = p.seq;
      const expect = queue[0];
      if (!expect) return; // nothing asked (a server's unsolicited error before it closes)
      if (state === 'first') return onFirst(p, expect);
      if (state === 'skip') {
        if (--remaining === 0) done();
        return;
      }
      if (state === 'columns') {
        if (remaining > 0) return void remaining--;
        // The EOF after the column definitions.
        if (eofStatus(p) & CURSOR_EXISTS) {
          handlers.summary('(cursor opened)');
          return done();
        }
        state = 'rows';
        rows = 0;
        return;
      }
      // rows
      if (p.head[0] === 0xff) {
        handlers.summary(errorSummary(p.head));
        return done();
      }
      if (isEof(p)) {
        handlers.summary(plural(rows, 'row'));
        return done(eofStatus(p));
      }
      rows++;
    },

    /**
     * The sequence id an ERR the gateway injects must carry to reach the client as the answer
     * to its command (undefined when no command is waiting: the client would not read it).
     */
    injectSeq(): number | undefined {
      if (!queue.length || continuing) return undefined;
      return lastSeq === undefined ? 1 : lastSeq + 1;
    },
  };
}
