import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { eventually } from '../eventually.js';

/**
 * The command the CLI runs to open a browser (GATEHOUSE_BROWSER): a script that only records the
 * URL, so the test can play the browser itself. The script runs after the CLI has spawned it and
 * moved on, so callers wait for the URL to appear rather than for anything the CLI prints.
 */
export class BrowserCommand {
  readonly path: string;
  private readonly log: string;
  private taken = 0;

  constructor(dir: string) {
    this.path = join(dir, 'fake-browser.sh');
    this.log = join(dir, 'browser.log');
    writeFileSync(this.path, `#!/bin/sh\necho "$1" >> '${this.log}'\n`, { mode: 0o755 });
  }

  /** Every URL opened so far. */
  opened(): string[] {
    return existsSync(this.log) ? readFileSync(this.log, 'utf8').split('\n').filter(Boolean) : [];
  }

  /** The next URL opened after the ones already taken; fails after `timeoutMs`. */
  async next(timeoutMs = 60_000): Promise<string> {
    const url = await eventually(() => this.opened()[this.taken], { timeoutMs, intervalMs: 25, message: 'no browser was opened' });
    this.taken++;
    return url;
  }
}
