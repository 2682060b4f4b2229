import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { readCast, type CastEvent, type CastHeader } from '../../recording/reader.js';
import { gatewayCredentials } from '../credentials.js';
import { UsageError } from '../errors.js';

const USAGE =
  'usage: gatehouse play <recording id | file.cast> [-i|--idle-time-limit SECS] [-s|--speed FACTOR] [--skip-idle] [--print-schedule] [--server URL] [--token T]';
/** --skip-idle: the same as `-i 1`. */
const SKIP_IDLE_LIMIT_S = 1;

export interface PlaybackTiming {
  /** Playback speed: recorded delays are divided by it. */
  speed: number;
  /** -i: every pause is capped to this many seconds (before the speed applies); wins over the header's. */
  idleTimeLimit?: number;
  /** The recording header's `idle_time_limit`, used when -i is not given. */
  headerIdleTimeLimit?: unknown;
}

/**
 * `asciinema play` timing (2.x, events.py): the pause before each shown event (from 0 for the
 * first) is capped to the idle time limit, the capped pauses add up to a playback time, and that
 * is divided by the speed. Returns a function from recorded time to playback time, in seconds.
 */
export function playbackClock(timing: PlaybackTiming): (recordedTime: number) => number {
  const header = timing.headerIdleTimeLimit;
  const limit = timing.idleTimeLimit ?? (typeof header === 'number' && header > 0 ? header : undefined);
  let previous = 0;
  let total = 0;
  return (recordedTime) => {
    // Times going backwards (a hand-edited file) would replay earlier, not at once: treat as no pause.
    const pause = Math.max(0, recordedTime - previous);
    previous = Math.max(previous, recordedTime);
    total += limit === undefined ? pause : Math.min(pause, limit);
    return total / timing.speed;
  };
}

/** A number option that must be positive, or undefined when not given. */
function positive(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new UsageError(`${flag} must be a positive number (seconds or a factor), got "${value}"`);
  return n;
}

/**
 * Plays an asciicast v2 recording in this terminal: a local .cast file, or a recording id fetched
 * from the gateway (`GET /api/v1/recordings/:id`, which audits the download).
 */
export async function play(argv: string[], out: NodeJS.WritableStream = process.stdout): Promise<number> {
  const { positionals, values } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      speed: { type: 'string', short: 's' },
      'idle-time-limit': { type: 'string', short: 'i' },
      'skip-idle': { type: 'boolean' },
      'print-schedule': { type: 'boolean' },
      server: { type: 'string' },
      token: { type: 'string' },
    },
  });
  const [target] = positionals;
  if (!target || positionals.length > 1) throw new UsageError(USAGE);
  const speed = positive(values.speed, '--speed') ?? 1;
  const idleTimeLimit = positive(values['idle-time-limit'], '--idle-time-limit') ?? (values['skip-idle'] ? SKIP_IDLE_LIMIT_S : undefined);

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
    let clock: ((recordedTime: number) => number) | undefined;
    const started = Date.now();
    for await (const item of readCast(path)) {
      if (!clock) {
        clock = playbackClock({ speed, idleTimeLimit, headerIdleTimeLimit: (item as CastHeader).idle_time_limit });
        continue;
      }
      const [time, code, data] = item as CastEvent;
      // What a terminal shows: output, and resizes; keystrokes and markers are not replayed.
      if (code !== 'o' && code !== 'r') continue;
      const at = clock(time);
      if (values['print-schedule']) {
        out.write(`${JSON.stringify([Math.round(at * 1e6) / 1e6, code, data])}\n`);
        continue;
      }
      const wait = started + at * 1000 - Date.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      if (code === 'o') out.write(data);
      else {
        const [cols, rows] = data.split('x').map(Number);
        if (cols && rows) out.write(`\x1b[8;${rows};${cols}t`);
      }
    }
    return 0;
  } finally {
    cleanup();
  }
}
