/** One way of opening a URL: a program and its arguments (no shell). */
export interface BrowserCommand {
  command: string;
  args: string[];
}

/** What decides how to open a browser here: `process.platform`, the environment, and /proc/version (WSL). */
export interface BrowserContext {
  platform: NodeJS.Platform;
  env: Record<string, string | undefined>;
  procVersion?: string;
}

/** Splits a $BROWSER entry into words: spaces separate, single or double quotes group. */
function words(entry: string): string[] {
  return [...entry.matchAll(/"([^"]*)"|'([^']*)'|(\S+)/g)].map((m) => m[1] ?? m[2] ?? m[3]);
}

/**
 * A $BROWSER entry as a command (the convention Python's webbrowser follows): `%s` is replaced by
 * the URL and `%%` is a literal `%`; without `%s` the URL is the last argument.
 */
function fromBrowserVar(entry: string, url: string): BrowserCommand | undefined {
  const [command, ...args] = words(entry);
  if (!command) return undefined;
  const substituted = args.map((a) => a.replace(/%%|%s/g, (m) => (m === '%s' ? url : '%')));
  return { command, args: args.some((a) => a.replace(/%%/g, '').includes('%s')) ? substituted : [...substituted, url] };
}

/** PowerShell's single-quoted string: nothing is expanded, a quote is doubled. */
const psQuoted = (s: string) => `'${s.replace(/'/g, "''")}'`;

/**
 * The commands to try, in order, to open `url`; the first that starts wins. GATEHOUSE_BROWSER is
 * the override (`none`: only print the URL); then every entry of $BROWSER (colon-separated); then
 * the platform's opener: `open` on macOS; under WSL `wslview`, else Windows' own
 * (`powershell.exe Start-Process`, `cmd.exe /c start`); `xdg-open` when there is a display.
 */
export function browserCommands(url: string, ctx: BrowserContext): BrowserCommand[] {
  const override = ctx.env.GATEHOUSE_BROWSER;
  if (override === 'none') return [];
  if (override) return [{ command: override, args: [url] }];
  const fromEnv = (ctx.env.BROWSER ?? '')
    .split(ctx.platform === 'win32' ? ';' : ':') // os.pathsep, as Python splits it
    .map((entry) => fromBrowserVar(entry.trim(), url))
    .filter((c): c is BrowserCommand => c !== undefined);
  const platform: BrowserCommand[] = [];
  if (ctx.platform === 'darwin') platform.push({ command: 'open', args: [url] });
  else if (ctx.platform !== 'win32') {
    if (ctx.platform === 'linux' && /microsoft|wsl/i.test(ctx.procVersion ?? ''))
      platform.push(
        { command: 'wslview', args: [url] },
        { command: 'powershell.exe', args: ['-NoProfile', '-NonInteractive', '-Command', `Start-Process ${psQuoted(url)}`] },
        // cmd's own metacharacters (& | < > ^ ( ) %) are escaped with ^; no title argument, as the URL is not quoted.
        { command: 'cmd.exe', args: ['/c', 'start', url.replace(/[&|<>^()%!]/g, '^$&')] },
      );
    if (ctx.env.DISPLAY || ctx.env.WAYLAND_DISPLAY) platform.push({ command: 'xdg-open', args: [url] });
  }
  return [...fromEnv, ...platform];
}
