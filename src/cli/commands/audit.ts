/**
 * `gatehouse audit search|tail|verify|export`: the audit log from a terminal.
 * Online commands call the gateway's API with the CLI's gateway token (gatewayCredentials);
 * `verify --dir DIR` checks a file backend's directory offline, without a running gateway.
 */
import { createWriteStream } from 'node:fs';
import { once } from 'node:events';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { parseArgs } from 'node:util';
import { verifyAuditDir } from '../../audit/file.js';
import { queryToParams, type AuditQuery } from '../../audit/query.js';
import type { AuditPage } from '../../audit/reader.js';
import type { AuditEvent } from '../../audit/sink.js';
import type { VerifyResult } from '../../audit/verify.js';
import { parseDuration } from '../../core/duration.js';
import { isGatehouseError } from '../../core/errors.js';
import { gatewayCredentials, type CliCredentials } from '../credentials.js';
import { UsageError } from '../errors.js';

export const AUDIT_USAGE = `Usage: gatehouse audit <search|tail|verify|export> [options]

  search  [filters] [--limit N] [--order asc|desc] [--cursor C] [--json]
  tail    [filters] [--limit N] [-f] [--interval 2s] [--json]   the newest events; -f follows new ones
  verify  [--dir DIR] [--json]        check the hash chain (online, or offline over a file backend's directory)
  export  [filters] [--format ndjson|csv] [--output FILE]

Filters: --from T --to T (RFC 3339, or a duration ago: 15m, 24h, 7d), --type T (repeatable; user.login
or a prefix such as session.*), --user U, --session-id S, --cluster C, --node N, --app A,
--outcome success|failure, --q TEXT
Server and token: --server URL --token T, or GATEHOUSE_SERVER / GATEHOUSE_TOKEN.
Exit status: 0 ok, 1 error or broken chain, 64 usage.
`;

const OPTIONS = {
  server: { type: 'string' },
  token: { type: 'string' },
  from: { type: 'string' },
  to: { type: 'string' },
  type: { type: 'string', multiple: true },
  user: { type: 'string' },
  'session-id': { type: 'string' },
  cluster: { type: 'string' },
  node: { type: 'string' },
  app: { type: 'string' },
  outcome: { type: 'string' },
  q: { type: 'string' },
  limit: { type: 'string' },
  order: { type: 'string' },
  cursor: { type: 'string' },
  follow: { type: 'boolean', short: 'f' },
  interval: { type: 'string' },
  dir: { type: 'string' },
  format: { type: 'string' },
  output: { type: 'string', short: 'o' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

type Values = ReturnType<typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: true }>>['values'];

/** `24h` → that long ago; anything else is passed to the server as written. */
const instant = (value: string | undefined) =>
  value && /^\d+(\.\d+)?(ms|s|m|h|d)$/.test(value) ? new Date(Date.now() - parseDuration(value)).toISOString() : value;

function filters(v: Values): Partial<AuditQuery> {
  return {
    from: instant(v.from),
    to: instant(v.to),
    types: v.type,
    user: v.user,
    session_id: v['session-id'],
    cluster: v.cluster,
    node: v.node,
    app: v.app,
    outcome: v.outcome as AuditQuery['outcome'],
    q: v.q,
  };
}

async function api(creds: CliCredentials, path: string, params: URLSearchParams, accept = 'application/json'): Promise<Response> {
  const res = await fetch(`${creds.server}${path}?${params}`, { headers: { authorization: `Bearer ${creds.token}`, accept } });
  if (!res.ok) {
    const body = (await res.json().catch(() => ({}))) as { error?: string; message?: string };
    throw new CliFailure(`${body.message ?? res.statusText} (${body.error ?? `HTTP ${res.status}`})`);
  }
  return res;
}

class CliFailure extends Error {}

const line = (e: AuditEvent) => {
  const extra = [e.reason, e.cluster && `cluster=${e.cluster}`, e.node && `node=${e.node}`, e.app && `app=${e.app}`, e.session_id && `session=${e.session_id}`]
    .filter(Boolean)
    .join(' ');
  return `${e.time}  ${e.type.padEnd(22)} ${e.outcome.padEnd(8)} ${(e.user ?? '-').padEnd(16)} ${extra}`.trimEnd();
};

function printVerify(result: VerifyResult & { backend?: string }, json: boolean | undefined): number {
  if (json) process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  else if (result.ok) {
    const span = result.first_time ? ` from ${result.first_time} to ${result.last_time}` : '';
    process.stdout.write(`OK: ${result.events} events, chain intact${span}; head ${result.head}\n`);
  } else {
    const b = result.break!;
    process.stdout.write(`BROKEN at event ${b.id ?? '(unknown id)'} (${b.location}): ${b.message} [${b.reason}]\n`);
    if (b.expected) process.stdout.write(`  expected ${b.expected}\n  found    ${b.actual}\n`);
  }
  return result.ok ? 0 : 1;
}

export async function auditCommand(argv: string[]): Promise<number> {
  const { positionals, values: v } = parseArgs({ args: argv, allowPositionals: true, options: OPTIONS });
  const [sub] = positionals;
  if (v.help || !sub) {
    process.stdout.write(AUDIT_USAGE);
    return v.help ? 0 : 64;
  }
  try {
    switch (sub) {
      case 'verify': {
        if (v.dir) return printVerify(await verifyAuditDir(v.dir), v.json);
        const creds = await gatewayCredentials(v);
        const res = await api(creds, '/api/v1/audit/verify', new URLSearchParams());
        return printVerify((await res.json()) as VerifyResult, v.json);
      }
      case 'search': {
        const creds = await gatewayCredentials(v);
        const params = queryToParams({ ...filters(v), order: v.order as AuditQuery['order'], cursor: v.cursor });
        if (v.limit) params.set('limit', v.limit);
        const page = (await (await api(creds, '/api/v1/audit/events', params)).json()) as AuditPage;
        if (v.json) process.stdout.write(`${JSON.stringify(page, null, 2)}\n`);
        else {
          for (const e of page.events) process.stdout.write(`${line(e)}  ${e.id}\n`);
          if (!page.events.length) process.stdout.write('no events match\n');
          if (page.has_more) process.stdout.write(`-- more: --cursor ${page.next_cursor}\n`);
        }
        return 0;
      }
      case 'tail':
        return await tail(v);
      case 'export': {
        const creds = await gatewayCredentials(v);
        const format = v.format ?? 'ndjson';
        if (format !== 'ndjson' && format !== 'csv') throw new UsageError('--format must be ndjson or csv');
        const params = queryToParams({ ...filters(v), order: (v.order as AuditQuery['order']) ?? 'asc' });
        params.set('format', format);
        if (v.limit) params.set('limit', v.limit);
        const res = await api(creds, '/api/v1/audit/events', params);
        const body = Readable.fromWeb(res.body as never);
        if (v.output) await pipeline(body, createWriteStream(v.output, { mode: 0o600 }));
        else for await (const chunk of body) if (!process.stdout.write(chunk)) await once(process.stdout, 'drain');
        return 0;
      }
      default:
        throw new UsageError(`unknown audit command "${sub}"`);
    }
  } catch (err) {
    if (err instanceof UsageError) throw err;
    if (err instanceof CliFailure || isGatehouseError(err)) {
      process.stderr.write(`gatehouse audit: ${(err as Error).message}\n`);
      return 1;
    }
    if ((err as { cause?: { code?: string } }).cause?.code === 'ECONNREFUSED') {
      process.stderr.write(`gatehouse audit: cannot reach the gateway (${(err as Error).message})\n`);
      return 1;
    }
    throw err;
  }
}

/** The newest events, oldest first; with -f, then polls for newer ones from the newest position. */
async function tail(v: Values): Promise<number> {
  const creds = await gatewayCredentials(v);
  const base = filters(v);
  const print = (e: AuditEvent) => process.stdout.write(v.json ? `${JSON.stringify(e)}\n` : `${line(e)}  ${e.id}\n`);
  const first = queryToParams({ ...base, order: 'desc' });
  first.set('limit', v.limit ?? '20');
  const page = (await (await api(creds, '/api/v1/audit/events', first)).json()) as AuditPage;
  [...page.events].reverse().forEach(print);
  if (!v.follow) return 0;
  const intervalMs = parseDuration(v.interval ?? '2s');
  let cursor = page.first_cursor ?? undefined;
  for (;;) {
    const params = queryToParams({ ...base, order: 'asc', cursor });
    params.set('limit', '1000');
    const next = (await (await api(creds, '/api/v1/audit/events', params)).json()) as AuditPage;
    next.events.forEach(print);
    if (next.next_cursor) cursor = next.next_cursor;
    if (!next.has_more) await new Promise((r) => setTimeout(r, intervalMs));
  }
}
