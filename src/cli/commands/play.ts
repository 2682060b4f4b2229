import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { readCast, type CastEvent } from '../../recording/reader.js';
import { gatewayCredentials } from '../credentials.js';
import { UsageError } from '../errors.js';

const USAGE = 'usage: gatehouse play <recording id | file.cast> [--speed N] [--skip-idle] [--server URL] [--token T]';
/** --skip-idle: pauses longer than this are cut to it (as asciinema's idle time limit). */
const IDLE_LIMIT_S = 1;

/**
 * Plays an asciicast v2 recording in this terminal: a local .cast file, or a recording id fetched
 * from the gateway (`GET /api/v1/recordings/:id`, which audits the download).
 */
export async function play(argv: string[], out: NodeJS.WritableStream = process.stdout): Promise<number> {
  const { positionals, values } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { speed: { type: 'string' }, 'skip-idle': { type: 'boolean' }, server: { type: 'string' }, token: { type: 'string' } },
  });
  const [target] = positionals;
  if (!target || positionals.length > 1) throw new UsageError(USAGE);
  const speed = values.speed === undefined ? 1 : Number(values.speed);
  if (!Number.isFinite(speed) || speed <= 0) throw new UsageError('--speed must be a positive number');

  let path = target;
  let cleanup = () => {};
  if (!existsSync(target)) {
    const { server, token } = await gatewayCredentials({ server: values.server, token: values.token });
    const res = await fetch(`${server}/api/v1/recordings/${encodeURIComponent(target)}`, { headers: { authorization: `Bearer ${token}` } });
    if (!res.ok) {
      const body = (await res.json().catch(() => ({}))) as { error?: string; message?: string };
      process.stderr.write(`gatehouse: ${body.message ?? res.statusText} (${body.error ?? res.status})\n`);
      return 1;
    }
    const dir = mkdtempSync(join(tmpdir(), 'gatehouse-play-'));
    path = join(dir, 'recording.cast');
    writeFileSync(path, Buffer.from(await res.arrayBuffer()));
    cleanup = () => rmSync(dir, { recursive: true, force: true });
  }
  try {
    let last = 0;
    let first = true;
    for await (const item of readCast(path)) {
      if (first) {
        first = false;
        continue;
      }
      const [time, code, data] = item as CastEvent;
      let wait = Math.max(0, time - last);
      if (values['skip-idle']) wait = Math.min(wait, IDLE_LIMIT_S);
      last = time;
      if (wait > 0) await new Promise((r) => setTimeout(r, (wait * 1000) / speed));
      if (code === 'o') out.write(data);
      else if (code === 'r') {
        const [cols, rows] = data.split('x').map(Number);
        if (cols && rows) out.write(`\x1b[8;${rows};${cols}t`);
      }
    }
    return 0;
  } finally {
    cleanup();
  }
}
