import type { ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { closedPort, findBinary, tcpReachable } from './services.js';
import { eventually, giveUp } from '../eventually.js';
import { startChild } from '../processes.js';

/** The nginx binary (Debian installs it in /usr/sbin, often not on a user's PATH), or undefined. */
export const findNginx = (): string | undefined => findBinary(['/usr/sbin/nginx', 'nginx'], ['-v']);

export interface Nginx {
  port: number;
  /** The master process (its workers are its children). */
  pid: number;
  /** The error log so far (for assertion messages). */
  errorLog(): string;
  stop(): Promise<void>;
}

/**
 * Starts nginx in the foreground with its own prefix, config, pid file and logs in a temp dir.
 * `http` is the content of the `http {}` block; `{{PORT}}` in it becomes the chosen free port and
 * `{{PREFIX}}` the temp dir (for a `proxy_cache_path`, say), which goes when nginx stops.
 */
export async function startNginx(bin: string, http: string, options: { workers?: number } = {}): Promise<Nginx> {
  const prefix = mkdtempSync(join(tmpdir(), 'gatehouse-nginx-'));
  mkdirSync(join(prefix, 'tmp'));
  const port = await closedPort();
  const root = process.getuid?.() === 0;
  const conf = `
${root ? 'user root;' : ''}
worker_processes ${options.workers ?? 1};
pid ${prefix}/nginx.pid;
error_log ${prefix}/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${prefix}/tmp/body;
  proxy_temp_path ${prefix}/tmp/proxy;
  fastcgi_temp_path ${prefix}/tmp/fastcgi;
  uwsgi_temp_path ${prefix}/tmp/uwsgi;
  scgi_temp_path ${prefix}/tmp/scgi;
  ${http.replaceAll('{{PORT}}', String(port)).replaceAll('{{PREFIX}}', prefix)}
}
`;
  writeFileSync(join(prefix, 'nginx.conf'), conf);
  const child: ChildProcess = startChild(bin, ['-p', prefix, '-c', join(prefix, 'nginx.conf'), '-g', 'daemon off;'], {
    stdio: ['ignore', 'ignore', 'pipe'],
  }).child;
  let stderr = '';
  child.stderr!.on('data', (c) => (stderr += c));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const errorLog = () => {
    try {
      return readFileSync(join(prefix, 'error.log'), 'utf8');
    } catch {
      return '';
    }
  };
  const failure = () => `nginx did not start: ${stderr}\n${errorLog()}`;
  try {
    await eventually(
      () => {
        if (child.exitCode !== null) giveUp(failure());
        return tcpReachable('127.0.0.1', port, 200);
      },
      { timeoutMs: 10_000, message: failure },
    );
  } catch (err) {
    child.kill('SIGKILL');
    rmSync(prefix, { recursive: true, force: true });
    throw err;
  }
  return {
    port,
    pid: child.pid!,
    errorLog,
    async stop() {
      if (child.exitCode === null) {
        child.kill('SIGQUIT');
        const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
        await exited;
        clearTimeout(timer);
      }
      rmSync(prefix, { recursive: true, force: true });
    },
  };
}

/**
 * The opt-in forward-auth micro-cache as shipped (deploy/nginx/gatehouse-auth-cache-http.conf and
 * gatehouse-auth-cache.conf): the `http {}` part, with its cache moved under nginx's temp dir
 * (`{{PREFIX}}`), and the location part's path, for an `include` in each verify location.
 */
export function gatehouseAuthCache(): { http: string; locationFile: string } {
  const dir = fileURLToPath(new URL('../../../deploy/nginx/', import.meta.url));
  const http = readFileSync(join(dir, 'gatehouse-auth-cache-http.conf'), 'utf8');
  const moved = http.replace(/proxy_cache_path \S+/, 'proxy_cache_path {{PREFIX}}/gatehouse-auth');
  if (moved === http) throw new Error('gatehouse-auth-cache-http.conf has no proxy_cache_path');
  return { http: moved, locationFile: join(dir, 'gatehouse-auth-cache.conf') };
}
