import { createHmac, randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { bestEffort, type AuditSink } from '../audit/sink.js';
import type { NotificationConfig } from '../config/requests.js';
import type { Logger } from '../core/logger.js';
import { approvalsOf, type AccessRequest } from './model.js';
import type { RequestNotice } from './service.js';

/*
 * Notifications about access requests (docs/access-requests.md "Notifications"): a Slack
 * incoming webhook, or a JSON webhook signed with HMAC-SHA256. Delivery happens in the
 * background with retries; each message ends in one `access_request.notify` audit event. The
 * request is already stored when a notice is sent, so nothing here can affect it.
 */

export interface RequestNotifierOptions {
  notifications: NotificationConfig[];
  /** The gateway's public URL; messages link to `${publicUrl}/requests/<id>`. */
  publicUrl: string;
  audit: AuditSink;
  logger: Logger;
  /** The wait after failed attempt `attempt` (1-based); default ~500 ms × 2^(attempt-1), capped, jittered. */
  backoffMs?: (attempt: number) => number;
  fetch?: typeof fetch;
}

export interface RequestNotifier {
  /** Fire and forget: never throws, never waits for delivery. */
  notify(notice: RequestNotice, request: AccessRequest): void;
  /** Resolves when every delivery in flight (retries included) has finished. */
  idle(): Promise<void>;
  /** Stops new messages and scheduled retries; an attempt already on the wire finishes. */
  close(): void;
}

const BACKOFF_BASE_MS = 500;
const BACKOFF_CAP_MS = 30_000;
/** Slack's limit on a section field's text. */
const SLACK_FIELD_MAX = 2000;
/** How much of a refused response's body goes to the log (Slack explains errors there). */
const RESPONSE_SNIPPET = 200;

/** Half fixed, half random, so many gateways retrying at once spread out. */
const defaultBackoff = (attempt: number): number => {
  const base = Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** (attempt - 1));
  return base / 2 + Math.random() * (base / 2);
};

/** One attempt's result: delivered, worth retrying, or final. */
type Attempt = { kind: 'delivered'; status: number } | { kind: 'retry' | 'final'; status?: number; error?: string; retryAfterMs?: number; response?: string };

export function createRequestNotifier(options: RequestNotifierOptions): RequestNotifier {
  const { logger, publicUrl } = options;
  const send = options.fetch ?? fetch;
  const backoff = options.backoffMs ?? defaultBackoff;
  const record = bestEffort(options.audit, logger);
  const inFlight = new Set<Promise<void>>();
  const waits = new Set<{ timer: NodeJS.Timeout; wake: (resumed: boolean) => void }>();
  let closed = false;

  const reviewUrl = (request: AccessRequest) => `${publicUrl.replace(/\/+$/, '')}/requests/${encodeURIComponent(request.id)}`;

  /** Waits before a retry; false when close() came first. */
  const pause = (ms: number): Promise<boolean> => {
    if (closed) return Promise.resolve(false);
    return new Promise((resolve) => {
      const wait = {
        timer: setTimeout(() => wait.wake(true), ms),
        wake: (resumed: boolean) => {
          clearTimeout(wait.timer);
          waits.delete(wait);
          resolve(resumed);
        },
      };
      waits.add(wait);
    });
  };

  async function attemptOnce(channel: NotificationConfig, body: string, deliveryId: string): Promise<Attempt> {
    let url: string;
    let headers: Record<string, string>;
    try {
      url = await targetUrl(channel);
      headers = { 'content-type': 'application/json', 'user-agent': 'Gatehouse' };
      if (channel.type === 'webhook') Object.assign(headers, signedHeaders(await readSecret(channel.secret_file, 'secret_file'), body, deliveryId));
    } catch (err) {
      // A file mid-rotation may be back on the next attempt.
      return { kind: 'retry', error: (err as Error).message };
    }
    try {
      // A redirect is refused, not followed: a webhook must not be bounced to another host.
      const res = await send(url, { method: 'POST', headers, body, redirect: 'manual', signal: AbortSignal.timeout(channel.timeout) });
      if (res.ok) {
        await res.body?.cancel().catch(() => undefined);
        return { kind: 'delivered', status: res.status };
      }
      const response = await snippetOf(res);
      const retryable = res.status === 429 || res.status >= 500;
      return { kind: retryable ? 'retry' : 'final', status: res.status, response, retryAfterMs: retryAfterOf(res) };
    } catch (err) {
      return { kind: 'retry', error: describeFetchError(err) };
    }
  }

  async function deliver(channel: NotificationConfig, notice: RequestNotice, request: AccessRequest): Promise<void> {
    const deliveryId = randomUUID();
    // Built once: every retry sends the same bytes with the same delivery id.
    const body = JSON.stringify(
      channel.type === 'slack' ? slackMessage(notice, request, reviewUrl(request)) : webhookMessage(deliveryId, notice, request, reviewUrl(request)),
    );
    const about = { notification: channel.name, request: request.id, notice };
    const auditFields = {
      type: 'access_request.notify' as const,
      user: request.requester.username,
      connector: request.requester.connector,
    };
    const common = { request_id: request.id, access_requests: [{ id: request.id, reason: request.reason }], notification: channel.name, notice };
    let attempts = 0;
    let last: Attempt;
    let stopped = false;
    for (;;) {
      attempts++;
      last = await attemptOnce(channel, body, deliveryId);
      if (last.kind === 'delivered') {
        logger.info({ ...about, attempts, status: last.status }, 'access request notification delivered');
        await record({ ...auditFields, outcome: 'success', details: { ...common, attempts, status: last.status } });
        return;
      }
      const problem = { ...about, attempt: attempts, status: last.status, error: last.error, response: last.response };
      if (last.kind === 'final' || attempts >= channel.attempts) break;
      const delay = Math.max(backoff(attempts), Math.min(last.retryAfterMs ?? 0, BACKOFF_CAP_MS));
      logger.warn({ ...problem, retry_in_ms: Math.round(delay) }, 'access request notification failed; retrying');
      if (!(await pause(delay))) {
        stopped = true;
        break;
      }
    }
    const redirected = last.status !== undefined && last.status >= 300 && last.status < 400;
    logger.warn(
      { ...about, attempts, status: last.status, error: last.error, response: last.response, stopped: stopped || undefined },
      redirected ? 'access request notification not delivered: redirects are not followed' : 'access request notification not delivered',
    );
    const lastResult = last.status !== undefined ? { last_status: last.status } : { last_error: last.error };
    await record({
      ...auditFields,
      outcome: 'failure',
      reason: 'delivery_failed',
      details: { ...common, attempts, ...lastResult, ...(stopped ? { stopped: true } : {}) },
    });
  }

  return {
    notify(notice, request) {
      try {
        if (closed) return;
        for (const channel of options.notifications) {
          if (channel.for_roles && !channel.for_roles.some((role) => request.roles.includes(role))) continue;
          const delivery = deliver(channel, notice, request)
            .catch((err: unknown) => logger.error({ err, notification: channel.name, request: request.id }, 'access request notification crashed'))
            .finally(() => inFlight.delete(delivery));
          inFlight.add(delivery);
        }
      } catch (err) {
        logger.error({ err, request: request.id }, 'access request notification could not be queued');
      }
    },
    async idle() {
      while (inFlight.size) await Promise.allSettled([...inFlight]);
    },
    close() {
      closed = true;
      for (const wait of [...waits]) wait.wake(false);
    },
  };
}

/** A secret file's content, trimmed; read at every send so a rotated file applies at once. */
async function readSecret(path: string | undefined, field: 'url_file' | 'secret_file'): Promise<string> {
  if (!path) throw new Error(`${field} is not set`);
  let content: string;
  try {
    content = (await readFile(path, 'utf8')).trim();
  } catch (err) {
    throw new Error(`${field} is unreadable (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  if (!content) throw new Error(`${field} is empty`);
  return content;
}

async function targetUrl(channel: NotificationConfig): Promise<string> {
  if (channel.url) return channel.url;
  const url = await readSecret(channel.url_file, 'url_file');
  // Never echo the content: a Slack webhook URL is a credential.
  if (!URL.canParse(url) || !/^https?:$/.test(new URL(url).protocol)) throw new Error('url_file does not hold an http(s) URL');
  return url;
}

function signedHeaders(secret: string, body: string, deliveryId: string): Record<string, string> {
  const timestamp = String(Math.floor(Date.now() / 1000));
  const signature = createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex');
  return { 'x-gatehouse-delivery': deliveryId, 'x-gatehouse-timestamp': timestamp, 'x-gatehouse-signature': `sha256=${signature}` };
}

/** Names the failure without its message: undici's messages may quote the URL. */
function describeFetchError(err: unknown): string {
  const e = err as { name?: string; cause?: { code?: unknown } };
  if (e.name === 'TimeoutError') return 'timeout';
  if (typeof e.cause?.code === 'string') return e.cause.code;
  return e.name ?? 'error';
}

/** Retry-After in seconds (Slack sends it with 429). */
function retryAfterOf(res: Response): number | undefined {
  const seconds = Number(res.headers.get('retry-after'));
  return Number.isFinite(seconds) && seconds > 0 ? seconds * 1000 : undefined;
}

/** The start of a refused response's body, for the log; the rest is discarded unread. */
async function snippetOf(res: Response): Promise<string | undefined> {
  if (!res.body) return undefined;
  const reader = res.body.getReader();
  try {
    const { value } = await reader.read();
    return value ? Buffer.from(value).subarray(0, RESPONSE_SNIPPET).toString('utf8') : undefined;
  } catch {
    return undefined;
  } finally {
    void reader.cancel().catch(() => undefined);
  }
}

const TYPE_OF_NOTICE = { created: 'access_request.created', approved: 'access_request.approved', denied: 'access_request.denied' } as const;

function webhookMessage(deliveryId: string, notice: RequestNotice, r: AccessRequest, url: string) {
  return {
    id: deliveryId,
    type: TYPE_OF_NOTICE[notice],
    request: {
      id: r.id,
      state: r.state,
      requester: { username: r.requester.username, email: r.requester.email },
      roles: r.roles,
      reason: r.reason,
      duration_ms: r.duration_ms,
      reviewers: r.reviewers,
      expires_at: r.expires_at,
      url,
    },
    sent_at: new Date().toISOString(),
  };
}

/** Slack mrkdwn treats &, < and > as control characters: a reason cannot add links or @channel. */
const escapeSlack = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** Escaped and cut to `max` characters without splitting an entity. */
function slackText(raw: string, max: number): string {
  let out = '';
  for (const char of raw) {
    const piece = escapeSlack(char);
    if (out.length + piece.length > max - 1) return `${out}…`;
    out += piece;
  }
  return out;
}

function humanDuration(ms: number): string {
  const units: [string, number][] = [
    ['d', 86_400_000],
    ['h', 3_600_000],
    ['m', 60_000],
    ['s', 1000],
  ];
  const parts: string[] = [];
  let rest = ms;
  for (const [unit, size] of units) {
    if (rest >= size) parts.push(`${Math.floor(rest / size)}${unit}`);
    rest %= size;
  }
  return parts.join(' ') || `${ms}ms`;
}

/** Slack's date token: shown in each reader's time zone, the ISO time where it cannot be. */
const slackDate = (iso: string) => `<!date^${Math.floor(Date.parse(iso) / 1000)}^{date_short_pretty} {time}|${iso}>`;

function slackMessage(notice: RequestNotice, r: AccessRequest, url: string) {
  const who = escapeSlack(r.requester.username);
  const roles = escapeSlack(r.roles.join(', '));
  const duration = humanDuration(r.duration_ms);
  const oneLineReason = r.reason.replace(/\s+/g, ' ').trim();
  const deciders = r.reviews.filter((rev) => rev.decision === (notice === 'denied' ? 'deny' : 'approve')).map((rev) => rev.reviewer.username);
  const headline = {
    created: `${who} requests ${roles} for ${duration}`,
    approved: `${who}'s request for ${roles} was approved: active for ${duration}`,
    denied: `${who}'s request for ${roles} (${duration}) was denied${deciders.length ? ` by ${escapeSlack(deciders.join(', '))}` : ''}`,
  }[notice];
  const label = notice === 'created' ? 'Review request' : 'View request';
  const text = `${headline}${oneLineReason ? `: “${slackText(oneLineReason, SLACK_FIELD_MAX)}”` : ''} <${url}|${label}>`;
  const fields = [
    `*Requester*\n${who}${r.requester.email ? ` (${escapeSlack(r.requester.email)})` : ''}`,
    `*Roles*\n${roles}`,
    `*Duration*\n${duration}`,
    `*Reviewers*\n${approvalsOf(r)}/${r.reviewers.approvals} approvals from ${escapeSlack(r.reviewers.roles.join(', '))}`,
    ...(r.reason ? [`*Reason*\n${slackText(r.reason, SLACK_FIELD_MAX - 12)}`] : []),
    ...(notice !== 'created' && deciders.length ? [`*${notice === 'denied' ? 'Denied' : 'Approved'} by*\n${escapeSlack(deciders.join(', '))}`] : []),
    ...(notice === 'approved' && r.expires_at ? [`*Until*\n${slackDate(r.expires_at)}`] : []),
  ];
  return {
    text,
    blocks: [
      {
        type: 'section',
        text: { type: 'mrkdwn', text: `*${headline}*\n<${url}|${label}>` },
        fields: fields.map((f) => ({ type: 'mrkdwn', text: f })),
      },
    ],
  };
}
