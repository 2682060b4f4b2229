import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { closedPort, findBinary, tcpReachable } from './services.js';
import { eventually, giveUp } from '../eventually.js';
import { startChild } from '../processes.js';

/** The caddy binary (Debian package caddy), or undefined. */
export const findCaddy = (): string | undefined => findBinary(['/usr/bin/caddy', 'caddy'], ['version']);

export interface Caddy {
  port: number;
  /** What caddy wrote so far (its log goes to stderr; for assertion messages). */
  log(): string;
  stop(): Promise<void>;
}

/**
 * Runs `caddy run` on a Caddyfile as a child (not the system service): the admin API off, no
 * automatic HTTPS, its data and config dirs in a temp dir. `{{PORT}}` in the Caddyfile becomes a
 * free port on 127.0.0.1; the site addresses must bind there themselves (`bind 127.0.0.1`).
 */
export async function startCaddy(bin: string, caddyfile: string): Promise<Caddy> {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-caddy-'));
  const port = await closedPort();
  const config = `{
\tadmin off
\tauto_https off
}

${caddyfile.replaceAll('{{PORT}}', String(port))}`;
  writeFileSync(join(dir, 'Caddyfile'), config);
  const { child, stop } = startChild(bin, ['run', '--config', join(dir, 'Caddyfile'), '--adapter', 'caddyfile'], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, HOME: dir, XDG_DATA_HOME: join(dir, 'data'), XDG_CONFIG_HOME: join(dir, 'config') },
  });
  let output = '';
  child.stdout!.on('data', (c) => (output += c));
  child.stderr!.on('data', (c) => (output += c));
  const failure = () => `caddy did not start:\n${config}\n${output}`;
  try {
    await eventually(
      () => {
        if (child.exitCode !== null) giveUp(failure());
        return tcpReachable('127.0.0.1', port, 200);
      },
      { timeoutMs: 10_000, message: failure },
    );
  } catch (err) {
    await stop(0);
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  return {
    port,
    log: () => output,
    async stop() {
      await stop(3000);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
