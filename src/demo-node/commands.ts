/**
 * The demo node's commands: a TOY, not a shell. Every command is a small function over a few
 * strings; nothing here runs a process, reads the host's files or looks at the environment. The
 * "files" are two strings in memory, so `cat /etc/passwd` is simply not found.
 */

export interface ToyContext {
  /** The login the certificate was issued for (`root`, `alice`). */
  login: string;
  hostname: string;
  /** The Gatehouse user behind the session (the certificate's key id). */
  user: string;
  now(): number;
}

export interface CommandResult {
  /** Text to show, each line ending in `\n` (the shell turns them into `\r\n` on a terminal). */
  output: string;
  status: number;
  /** Set by `exit`: the session ends with this status. */
  exit?: boolean;
}

const COMMANDS = ['help', 'whoami', 'hostname', 'date', 'echo', 'ls', 'cat', 'pwd', 'uname', 'clear', 'exit'];
/** ANSI: cursor home, erase the screen. */
const CLEAR_SCREEN = '\x1b[H\x1b[2J';

export const homeOf = (login: string): string => (login === 'root' ? '/root' : `/home/${login}`);

/** The virtual files in the home directory, by name. */
function files(ctx: ToyContext): Record<string, string> {
  return {
    'README.txt': [
      `This is ${ctx.hostname}, the Gatehouse demo's toy SSH node.`,
      'It runs inside the gateway process and has no real shell or filesystem behind it.',
      `You (${ctx.user}) came in through the gateway as "${ctx.login}" with a short-lived`,
      'certificate from its user CA. Terminal sessions are recorded: after `exit`,',
      'find yours on the "My access" page and under /recordings.',
    ].join('\n'),
    'notes.txt': ['Things to try: whoami, hostname, date, echo hello, ls, cat README.txt, uname -a.', 'Ctrl-C cancels a line; Ctrl-D or `exit` logs out.'].join(
      '\n',
    ),
  };
}

/** Splits a command line into words: whitespace separates, '…' and "…" quote (no variables, no globs). */
export function words(line: string): string[] {
  const out: string[] = [];
  let current = '';
  let quote: string | undefined;
  let inWord = false;
  for (const ch of line) {
    if (quote) {
      if (ch === quote) quote = undefined;
      else current += ch;
    } else if (ch === '"' || ch === "'") {
      quote = ch;
      inWord = true;
    } else if (/\s/.test(ch)) {
      if (inWord) out.push(current);
      current = '';
      inWord = false;
    } else {
      current += ch;
      inWord = true;
    }
  }
  if (inWord) out.push(current);
  return out;
}

/** `README.txt`, `./README.txt`, `~/README.txt` and `/root/README.txt` all name the same virtual file. */
function fileName(path: string, ctx: ToyContext): string {
  const home = homeOf(ctx.login);
  if (path.startsWith('~/')) return path.slice(2);
  if (path.startsWith('./')) return path.slice(2);
  if (path.startsWith(`${home}/`)) return path.slice(home.length + 1);
  return path;
}

const isHome = (path: string, ctx: ToyContext) => ['.', './', '~', '~/', homeOf(ctx.login), `${homeOf(ctx.login)}/`].includes(path);

/** Lines of output, each ending in a newline. */
const lines = (text: string): string => `${text}\n`;
const ok = (text: string): CommandResult => ({ output: lines(text), status: 0 });
const fail = (text: string, status = 1): CommandResult => ({ output: lines(text), status });

/** Runs one command line. */
export function runCommand(line: string, ctx: ToyContext): CommandResult {
  const [name, ...args] = words(line);
  if (name === undefined) return { output: '', status: 0 };
  const home = files(ctx);
  switch (name) {
    case 'help':
      return ok([`${ctx.hostname} is a toy node of the Gatehouse demo: no real shell, no real files.`, `Commands: ${COMMANDS.join(', ')}.`].join('\n'));
    case 'whoami':
      return ok(ctx.login);
    case 'hostname':
      return ok(ctx.hostname);
    case 'date':
      return ok(new Date(ctx.now()).toUTCString());
    case 'echo':
      return ok(args.join(' '));
    case 'pwd':
      return ok(homeOf(ctx.login));
    case 'uname':
      return ok(args.includes('-a') ? `Gatehouse-toy ${ctx.hostname} 1.0 demo (no real system behind this shell)` : 'Gatehouse-toy');
    case 'clear':
      return { output: CLEAR_SCREEN, status: 0 };
    case 'ls': {
      const missing = args.filter((a) => !a.startsWith('-') && !isHome(a, ctx) && !(fileName(a, ctx) in home));
      if (missing.length) return fail(missing.map((a) => `ls: cannot access '${a}': No such file or directory`).join('\n'), 2);
      const named = args.filter((a) => !a.startsWith('-') && !isHome(a, ctx));
      return ok((named.length ? named : Object.keys(home)).join('  '));
    }
    case 'cat': {
      if (!args.length) return fail('cat: this toy reads only files given by name (try: cat README.txt)');
      let status = 0;
      const parts = args.map((a) => {
        const text = home[fileName(a, ctx)];
        if (text !== undefined) return text;
        status = 1;
        return `cat: ${a}: No such file or directory`;
      });
      return { output: lines(parts.join('\n')), status };
    }
    case 'exit': {
      const code = args.length ? Number(args[0]) : 0;
      return { output: '', status: Number.isInteger(code) ? code & 0xff : 2, exit: true };
    }
    default:
      return fail(`toy-sh: ${name}: command not found (type help)`, 127);
  }
}
