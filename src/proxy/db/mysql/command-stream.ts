import { MAX_PAYLOAD } from './wire.js';

/** A command packet from the client: its first bytes (up to the hold), whether it is longer. */
export interface Command {
  seq: number;
  length: number;
  head: Buffer;
  cut: boolean;
}

/** What becomes of a command: passed on, passed on rewritten (whole packets), or dropped with a reply to the client. */
export type Verdict = { forward: true } | { replace: Buffer } | { drop: true; reply: Buffer; end?: boolean };

/**
 * The client's side of a relayed session. Each command packet is held until its first `hold`
 * bytes are in (the whole packet, for all but big ones), so that it can be audited, checked and
 * rewritten before the server sees it; the rest of a big packet, continuation packets and LOCAL
 * INFILE contents stream through as they come, never buffered. A verdict may be asynchronous:
 * bytes arriving meanwhile wait their turn, in order.
 */
export class CommandStream {
  private readonly header = Buffer.alloc(4);
  private headerLen = 0;
  private inBody = false;
  private length = 0;
  private remaining = 0;
  private seq = 0;
  /** The current packet's bytes are being written on (false: dropped). */
  private passing = true;
  private holding = false;
  private held: Buffer[] = [];
  private heldLen = 0;
  private continuing = false;
  private backlog: Buffer[] = [];
  private waiting = false;
  private out: Buffer[] = [];
  /** Set by the response side when the server asked for a LOCAL INFILE file; ends at the empty packet. */
  sendingFile = false;

  constructor(
    private readonly hold: number,
    private readonly decide: (command: Command) => Verdict | Promise<Verdict>,
    private readonly write: (bytes: Buffer) => void,
    private readonly reply: (bytes: Buffer, end: boolean) => void,
    private readonly fail: (err: Error) => void,
  ) {}

  push(chunk: Buffer): void {
    if (this.waiting) return void this.backlog.push(chunk);
    this.consume(chunk, 0);
  }

  private flush() {
    if (this.out.length === 1) this.write(this.out[0]);
    else if (this.out.length > 1) this.write(Buffer.concat(this.out));
    this.out = [];
  }

  private consume(chunk: Buffer, from: number) {
    let i = from;
    while (i < chunk.length) {
      if (!this.inBody) {
        const take = Math.min(4 - this.headerLen, chunk.length - i);
        chunk.copy(this.header, this.headerLen, i, i + take);
        this.headerLen += take;
        i += take;
        if (this.headerLen < 4) break;
        this.headerLen = 0;
        this.startPacket();
        if (this.holding && this.remaining === 0 && !this.settle(chunk, i)) return;
        continue;
      }
      const take = Math.min(this.remaining, chunk.length - i);
      const part = chunk.subarray(i, i + take);
      i += take;
      this.remaining -= take;
      if (this.holding) {
        this.held.push(part);
        this.heldLen += take;
        if ((this.heldLen >= this.hold || this.remaining === 0) && !this.settle(chunk, i)) return;
      } else {
        if (this.passing) this.out.push(part);
        if (this.remaining === 0) this.inBody = false;
      }
    }
    this.flush();
  }

  private startPacket() {
    this.inBody = true;
    this.length = this.remaining = this.header.readUIntLE(0, 3);
    this.seq = this.header[3];
    const data = this.continuing || this.sendingFile;
    if (this.sendingFile && this.length === 0) this.sendingFile = false;
    this.continuing = this.length === MAX_PAYLOAD;
    this.passing = true;
    this.holding = !data;
    this.held = [];
    this.heldLen = 0;
    if (data) {
      this.out.push(Buffer.from(this.header));
      if (this.remaining === 0) this.inBody = false;
    }
  }

  /** The held part of a command is in: decides. Returns false when the decision is pending (consumption resumes after it). */
  private settle(chunk: Buffer, resumeAt: number): boolean {
    this.holding = false;
    if (this.remaining === 0) this.inBody = false;
    const head = this.held.length === 1 ? this.held[0] : Buffer.concat(this.held);
    this.held = [];
    const command: Command = { seq: this.seq, length: this.length, head, cut: head.length < this.length };
    let verdict: Verdict | Promise<Verdict>;
    try {
      verdict = this.decide(command);
    } catch (err) {
      this.fail(err as Error);
      return false;
    }
    if (!(verdict instanceof Promise)) return this.apply(verdict, command);
    this.flush();
    this.waiting = true;
    verdict.then(
      (v) => {
        this.waiting = false;
        if (!this.apply(v, command)) return;
        this.consume(chunk, resumeAt);
        while (!this.waiting && this.backlog.length) this.consume(this.backlog.shift()!, 0);
      },
      (err: Error) => this.fail(err),
    );
    return false;
  }

  private apply(verdict: Verdict, command: Command): boolean {
    if ('forward' in verdict) {
      const header = Buffer.from(this.header);
      this.out.push(header, command.head);
      this.passing = true;
      return true;
    }
    if ('replace' in verdict) {
      this.out.push(verdict.replace);
      this.passing = false;
      return true;
    }
    this.passing = false;
    this.flush();
    this.reply(verdict.reply, verdict.end ?? false);
    return !verdict.end;
  }
}
