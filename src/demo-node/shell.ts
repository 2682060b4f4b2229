import { StringDecoder } from 'node:string_decoder';
import { runCommand, type ToyContext } from './commands.js';

/** Longer lines are cut here: a toy has no use for more, and the buffer stays small. */
export const MAX_LINE = 512;

export interface ToyShell {
  /** Writes the greeting and the first prompt. */
  start(): void;
  /** Keystrokes from the terminal (raw bytes of a pty session). */
  input(data: Buffer | string): void;
}

/**
 * The interactive side of the toy shell, for a pty session (xterm.js or `ssh -t`): a line editor
 * that echoes what is typed, erases with Backspace, runs the line on Enter, drops it on Ctrl-C,
 * clears with Ctrl-U (line) and Ctrl-L (screen), logs out on Ctrl-D at an empty prompt, and
 * ignores other control keys and escape sequences (arrows, function keys). Output uses `\r\n`,
 * since the far end is a terminal with no line discipline of ours in between.
 */
export function createToyShell(ctx: ToyContext, io: { write(text: string): void; exit(status: number): void }): ToyShell {
  const decoder = new StringDecoder('utf8');
  let line = '';
  let escape: 'none' | 'esc' | 'csi' = 'none';
  let lastWasCr = false;
  let done = false;
  const prompt = () => io.write(`${ctx.login}@${ctx.hostname}:~${ctx.login === 'root' ? '#' : '$'} `);
  const finish = (status: number) => {
    done = true;
    io.exit(status);
  };

  function submit() {
    io.write('\r\n');
    const result = runCommand(line, ctx);
    line = '';
    io.write(result.output.replace(/\n/g, '\r\n'));
    if (result.exit) return finish(result.status);
    prompt();
  }

  function key(ch: string) {
    // Escape sequences: ESC [ params final (CSI), ESC O x (SS3), ESC x; all dropped.
    if (escape === 'esc') {
      escape = ch === '[' ? 'csi' : ch === 'O' ? 'csi' : 'none';
      return;
    }
    if (escape === 'csi') {
      if (ch >= '@' && ch <= '~' && ch !== '[') escape = 'none';
      return;
    }
    const crlf = lastWasCr && ch === '\n';
    lastWasCr = ch === '\r';
    if (crlf) return;
    switch (ch) {
      case '\x1b':
        escape = 'esc';
        return;
      case '\r':
      case '\n':
        return submit();
      case '\x7f':
      case '\b':
        if (!line.length) return;
        line = [...line].slice(0, -1).join('');
        return io.write('\b \b');
      case '\x03': // Ctrl-C
        line = '';
        io.write('^C\r\n');
        return prompt();
      case '\x04': // Ctrl-D
        if (line.length) return;
        io.write('logout\r\n');
        return finish(0);
      case '\x15': // Ctrl-U
        io.write('\b \b'.repeat([...line].length));
        line = '';
        return;
      case '\x0c': // Ctrl-L
        io.write('\x1b[H\x1b[2J');
        prompt();
        return io.write(line);
    }
    if (ch < ' ' || ch === '\x9b') return;
    if (line.length + ch.length > MAX_LINE) return io.write('\x07');
    line += ch;
    io.write(ch);
  }

  return {
    start() {
      io.write(`Gatehouse demo node ${ctx.hostname}: a toy shell, not a real system. Type help.\r\n`);
      prompt();
    },
    input(data) {
      for (const ch of typeof data === 'string' ? data : decoder.write(data)) {
        if (done) return;
        key(ch);
      }
    },
  };
}

/** An `exec` request: one command, output with plain `\n` unless a pty was asked for. */
export function execOnce(command: string, ctx: ToyContext, pty: boolean): { output: string; status: number } {
  const result = runCommand(command.slice(0, MAX_LINE), ctx);
  return { output: pty ? result.output.replace(/\n/g, '\r\n') : result.output, status: result.status };
}
