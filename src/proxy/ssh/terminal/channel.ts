import { EventEmitter } from 'node:events';
import { Duplex, Writable } from 'node:stream';
import type { Session } from 'ssh2';
import type { WebSocket } from 'ws';

/** What the browser sends: keystrokes, or a new terminal size. */
type ClientMessage = { type: 'input'; data: string } | { type: 'resize'; cols: number; rows: number };

const size = (n: unknown, max: number) => (Number.isInteger(n) && (n as number) > 0 && (n as number) <= max ? (n as number) : undefined);

/**
 * A browser WebSocket presented as an ssh2 server Session that asked for a pty and a shell, so
 * the web terminal goes through exactly the SSH listener's session code (bridgeSession: audit,
 * recording, relaying). Browser → gateway: JSON text frames (`input`, `resize`); gateway →
 * browser: terminal output as binary frames, and one `{"type":"exit"}` text frame at the end.
 */
export function webSocketSession(ws: WebSocket, initial: { cols: number; rows: number }): { session: Session; begin(): void } {
  const session = new EventEmitter();
  const send = (data: Buffer | string) => {
    if (ws.readyState === ws.OPEN) ws.send(data);
  };
  const channel = new Duplex({
    read() {},
    write(chunk: Buffer, _enc, done) {
      send(chunk);
      done();
    },
    final(done) {
      ws.close(1000);
      done();
    },
  });
  const stderr = new Writable({
    write(chunk: Buffer, _enc, done) {
      send(chunk);
      done();
    },
  });
  Object.assign(channel, {
    stderr,
    exit(codeOrSignal: number | string) {
      send(JSON.stringify(typeof codeOrSignal === 'number' ? { type: 'exit', code: codeOrSignal } : { type: 'exit', signal: codeOrSignal }));
    },
  });
  ws.on('message', (raw, isBinary) => {
    if (isBinary) return;
    let msg: ClientMessage;
    try {
      msg = JSON.parse(raw.toString()) as ClientMessage;
    } catch {
      return;
    }
    if (msg?.type === 'input' && typeof msg.data === 'string') channel.push(Buffer.from(msg.data));
    else if (msg?.type === 'resize') {
      const cols = size(msg.cols, 1000);
      const rows = size(msg.rows, 1000);
      if (cols && rows) session.emit('window-change', undefined, undefined, { cols, rows, width: 0, height: 0 });
    }
  });
  ws.on('close', () => channel.destroy());
  ws.on('error', () => channel.destroy());
  return {
    session: session as unknown as Session,
    begin() {
      session.emit('pty', undefined, undefined, { cols: initial.cols, rows: initial.rows, width: 0, height: 0, term: 'xterm-256color', modes: {} });
      session.emit('shell', () => channel, undefined);
    },
  };
}

export { size as terminalSize };
