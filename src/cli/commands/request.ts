/**
 * `gatehouse request create|ls|show|review|drop`: just-in-time access requests from a terminal,
 * through the gateway's API (/api/v1/requests) with the CLI's gateway token (gatewayCredentials).
 */
import { parseArgs } from 'node:util';
import { parseDuration } from '../../core/duration.js';
import { isGatehouseError } from '../../core/errors.js';
import { gatewayApi, gatewayCredentials, type CliCredentials } from '../credentials.js';
import { UsageError } from '../errors.js';
import { withLock } from '../lock.js';
import { lockPath, readState, writeState } from '../state.js';

const USAGE = `Usage: gatehouse request <create|ls|show|review|drop> [options]

  create --role R [--role R2] [--reason TEXT] [--duration 2h]
                                   ask for requestable roles (the duration starts at approval)
  ls [--state S] [--mine]          the requests you may see (S: pending, denied, active, expired, revoked)
  show ID                          every field, the reviews, and who may still approve
  review ID --approve|--deny [--comment TEXT]
                                   decide on someone else's request
  drop ID                          withdraw your request, or revoke one you may review

Once approved: gatehouse login --request ID [--wait 10m] uses the request's roles at once.
Server and token: --server URL --token T, or GATEHOUSE_SERVER / GATEHOUSE_TOKEN (default: your saved login).
--json prints the gateway's answer as it is. Exit status: 0 ok, 1 refused or failed, 64 usage.
`;

const OPTIONS = {
  server: { type: 'string' },
  token: { type: 'string' },
  role: { type: 'string', multiple: true },
  reason: { type: 'string' },
  duration: { type: 'string' },
  state: { type: 'string' },
  mine: { type: 'boolean' },
  approve: { type: 'boolean' },
  deny: { type: 'boolean' },
  comment: { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

const STATES = ['pending', 'denied', 'active', 'expired', 'revoked'];

interface Person {
  id: string;
  username: string;
  connector: string;
  email?: string;
}

/** An access request as the API answers it (RequestView in src/requests/service.ts: the CLI only reads the wire). */
export interface RequestView {
  id: string;
  state: 'pending' | 'denied' | 'active' | 'expired' | 'revoked';
  requester: Person;
  roles: string[];
  reason: string;
  duration_ms: number;
  reviewers: { roles: string[]; approvals: number };
  reviews: { reviewer: Person; decision: 'approve' | 'deny'; comment?: string; at: string }[];
  created_at: string;
  pending_until: string;
  activated_at?: string;
  expires_at?: string;
  ended_at?: string;
  ended_by?: string;
  approvals: number;
  eligible_reviewers: Person[];
  can_review: boolean;
}

/** What GET /api/v1/requests answers. */
interface RequestList {
  requests: RequestView[];
  requestable: { role: string; max_duration_ms: number; reviewers: { roles: string[]; approvals: number }; require_reason: boolean }[];
}

/**
 * requestApi with the CLI's credentials. A saved gateway token minted under a request that has
 * since ended is refused; it is dropped and the login refreshed once, to a token without it.
 */
async function callGateway<T>(v: { server?: string; token?: string }, path: string, init?: RequestInit): Promise<{ creds: CliCredentials; body: T }> {
  const creds = await gatewayCredentials(v);
  try {
    return { creds, body: await gatewayApi<T>(creds, path, init) };
  } catch (err) {
    const saved = v.token === undefined && process.env.GATEHOUSE_TOKEN === undefined;
    if (!saved || !isGatehouseError(err) || err.code !== 'token_revoked') throw err;
    await withLock(lockPath(creds.server), async () => {
      const state = readState(creds.server);
      if (state.access_token === creds.token) writeState({ ...state, access_token: undefined, access_expires_at: undefined });
    });
    const again = await gatewayCredentials(v);
    return { creds: again, body: await gatewayApi<T>(again, path, init) };
  }
}

export const requestPath = (id: string) => `/api/v1/requests/${encodeURIComponent(id)}`;

/** Milliseconds as `4h`, `1h30m`, `45m` or `30s`. */
export function formatDuration(ms: number): string {
  const minutes = Math.round(ms / 60_000);
  if (minutes < 1) return `${Math.round(ms / 1000)}s`;
  const h = Math.floor(minutes / 60);
  if (!h) return `${minutes}m`;
  return minutes % 60 ? `${h}h${minutes % 60}m` : `${h}h`;
}

/** RFC 3339 to the second. */
export const formatInstant = (iso: string | undefined): string => (iso ? iso.replace(/\.\d{3}Z$/, 'Z') : '-');

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

/** Who may still approve: the people seen signing in with a reviewer role, and the roles themselves. */
export function describeApprovers(r: RequestView): string {
  const people = r.eligible_reviewers.map((p) => p.username);
  const need = `${plural(r.reviewers.approvals, 'approval')} needed, ${r.approvals} given`;
  const who = people.length ? people.join(', ') : 'nobody who has signed in yet';
  return `${who} (holders of ${r.reviewers.roles.join(', ')}; ${need})`;
}

const shorten = (text: string, max: number) => (text.length > max ? `${text.slice(0, max - 1)}…` : text);

/** Columns padded to their widest cell; the last one is not. */
function table(rows: string[][]): string {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((row) => row[i].length)));
  return rows.map((row) => row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]))).join('  ')).join('\n');
}

/** The instant that matters next: the end of an active request, the pending deadline, or when it ended. */
const endsAt = (r: RequestView) => (r.state === 'pending' ? r.pending_until : (r.expires_at ?? r.ended_at));

function describe(r: RequestView, server: string): string {
  const fields: [string, string | undefined][] = [
    ['request', r.id],
    ['state', `${r.state}${r.ended_by ? ` (by ${r.ended_by})` : ''}`],
    ['requester', `${r.requester.username}${r.requester.email ? ` <${r.requester.email}>` : ''} (connector ${r.requester.connector})`],
    ['roles', r.roles.join(', ')],
    ['reason', r.reason || '-'],
    ['duration', formatDuration(r.duration_ms)],
    ['reviewers', `${r.reviewers.roles.join(', ')} (${plural(r.reviewers.approvals, 'approval')} needed, ${r.approvals} given)`],
    ['created', formatInstant(r.created_at)],
    ['pending until', r.state === 'pending' ? formatInstant(r.pending_until) : undefined],
    ['activated', r.activated_at && formatInstant(r.activated_at)],
    ['expires', r.expires_at && formatInstant(r.expires_at)],
    ['ended', r.ended_at && formatInstant(r.ended_at)],
    ['can approve', r.state === 'pending' ? describeApprovers(r) : undefined],
    ['you may review', r.can_review ? 'yes' : 'no'],
    ['review page', `${server}/requests/${r.id}`],
  ];
  const shown = fields.filter((f): f is [string, string] => f[1] !== undefined);
  const width = Math.max(...shown.map(([label]) => label.length)) + 2;
  const lines = shown.map(([label, value]) => `${`${label}:`.padEnd(width)}${value}`);
  lines.push('reviews:');
  for (const rev of r.reviews) lines.push(`  ${rev.reviewer.username}  ${rev.decision}  ${formatInstant(rev.at)}${rev.comment ? `  "${rev.comment}"` : ''}`);
  if (!r.reviews.length) lines.push('  (none yet)');
  return `${lines.join('\n')}\n`;
}

/** `2h` as given, or a number of seconds as a number; checked here so a typo is a usage error. */
function durationBody(value: string | undefined): string | number | undefined {
  if (value === undefined) return undefined;
  if (/^\d+$/.test(value)) return Number(value);
  try {
    parseDuration(value);
  } catch (err) {
    throw new UsageError(`--duration: ${(err as Error).message}`);
  }
  return value;
}

const print = (json: boolean | undefined, value: unknown, text: () => string) => process.stdout.write(json ? `${JSON.stringify(value, null, 2)}\n` : text());

export async function requestCommand(argv: string[]): Promise<number> {
  const { positionals, values: v } = parseArgs({ args: argv, allowPositionals: true, options: OPTIONS });
  const [sub, id, ...extra] = positionals;
  if (v.help || !sub) {
    process.stdout.write(USAGE);
    return v.help ? 0 : 64;
  }
  const needId = () => {
    if (!id || extra.length) throw new UsageError(`usage: gatehouse request ${sub} ID`);
    return id;
  };
  switch (sub) {
    case 'create': {
      if (id) throw new UsageError('request create takes no ID: name the roles with --role');
      if (!v.role?.length) throw new UsageError('request create needs --role ROLE (repeat it for more roles)');
      const body = { roles: v.role, ...(v.reason !== undefined ? { reason: v.reason } : {}), duration: durationBody(v.duration) };
      const { creds, body: r } = await callGateway<RequestView>(v, '/api/v1/requests', { method: 'POST', body: JSON.stringify(body) });
      print(
        v.json,
        r,
        () =>
          `request:      ${r.id}\nstate:        ${r.state} (${r.roles.join(', ')} for ${formatDuration(r.duration_ms)} once approved)\n` +
          `can approve:  ${describeApprovers(r)}\nreview page:  ${creds.server}/requests/${r.id}\n` +
          `Once approved, use it at once: gatehouse login --request ${r.id}\n`,
      );
      return 0;
    }
    case 'ls': {
      if (id) throw new UsageError('request ls takes no ID (see: gatehouse request show ID)');
      if (v.state !== undefined && !STATES.includes(v.state)) throw new UsageError(`--state must be one of ${STATES.join(', ')}`);
      const query = new URLSearchParams({ ...(v.state ? { state: v.state } : {}), ...(v.mine ? { mine: '1' } : {}) });
      const { body: list } = await callGateway<RequestList>(v, `/api/v1/requests${query.toString() ? `?${query}` : ''}`);
      print(v.json, list, () => {
        const rows = list.requests.map((r) => [
          r.id,
          r.state,
          r.requester.username,
          r.roles.join(','),
          shorten(r.reason || '-', 40),
          formatDuration(r.duration_ms),
          formatInstant(r.created_at),
          formatInstant(endsAt(r)),
        ]);
        const head = ['ID', 'STATE', 'REQUESTER', 'ROLES', 'REASON', 'DURATION', 'CREATED', 'EXPIRES'];
        const out = [rows.length ? table([head, ...rows]) : 'no requests match'];
        if (list.requestable.length) {
          out.push('', 'you may request:');
          for (const o of list.requestable)
            out.push(
              `  ${o.role}: up to ${formatDuration(o.max_duration_ms)}, approved by ${plural(o.reviewers.approvals, 'holder')} of ${o.reviewers.roles.join(', ')}${o.require_reason ? ', reason required' : ''}`,
            );
        }
        return `${out.join('\n')}\n`;
      });
      return 0;
    }
    case 'show': {
      const { creds, body: r } = await callGateway<RequestView>(v, requestPath(needId()));
      print(v.json, r, () => describe(r, creds.server));
      return 0;
    }
    case 'review': {
      if (Boolean(v.approve) === Boolean(v.deny)) throw new UsageError('request review needs exactly one of --approve and --deny');
      const body = { decision: v.approve ? 'approve' : 'deny', ...(v.comment !== undefined ? { comment: v.comment } : {}) };
      const { body: r } = await callGateway<RequestView>(v, `${requestPath(needId())}/review`, { method: 'POST', body: JSON.stringify(body) });
      print(v.json, r, () => {
        if (r.state === 'active') return `Approved ${r.id}: ${r.requester.username} has ${r.roles.join(', ')} until ${formatInstant(r.expires_at)}.\n`;
        if (r.state === 'denied') return `Denied ${r.id}.\n`;
        return `Approved ${r.id}: ${r.approvals} of ${r.reviewers.approvals} approvals; still ${r.state}.\n`;
      });
      return 0;
    }
    case 'drop': {
      const { body: r } = await callGateway<RequestView>(v, requestPath(needId()), { method: 'DELETE' });
      print(v.json, r, () => `Request ${r.id} is ${r.state}${r.ended_by ? ` (by ${r.ended_by})` : ''}.\n`);
      return 0;
    }
    default:
      throw new UsageError(`unknown request command "${sub}"`);
  }
}
