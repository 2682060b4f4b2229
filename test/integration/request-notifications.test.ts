// Access request notifications (src/requests/notify.ts): the real notifier posting to a real
// node:http receiver on 127.0.0.1, auditing into a real file audit log.
import assert from 'node:assert/strict';
import { createHmac, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { pino } from 'pino';
import { createFileAuditBackend, readAuditEvents } from '../../src/audit/file.js';
import type { AuditBackend } from '../../src/audit/reader.js';
import type { AuditEvent } from '../../src/audit/sink.js';
import type { NotificationConfig } from '../../src/config/requests.js';
import type { AccessRequest } from '../../src/requests/model.js';
import { createRequestNotifier } from '../../src/requests/notify.js';

const PUBLIC_URL = 'https://gatehouse.example.test';

/** What the receiver does with the n-th request (0-based) to a path: a status, or never answer. */
type Script = (n: number, res: ServerResponse) => number | 'hang';

/** A webhook receiver: records every request per path and answers as its path's script says. */
async function startReceiver() {
  const received: { path: string; headers: IncomingHttpHeaders; body: string }[] = [];
  const scripts = new Map<string, Script>();
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const path = req.url ?? '/';
      const n = received.filter((r) => r.path === path).length;
      received.push({ path, headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
      const answer = (scripts.get(path) ?? (() => 200))(n, res);
      if (answer === 'hang') return;
      res.writeHead(answer, { 'content-type': 'text/plain' }).end(answer < 300 ? 'ok' : 'no');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  let next = 0;
  return {
    /** A fresh path answering as `script` says, and its URL. */
    endpoint(script: Script = () => 200) {
      const path = `/hook-${next++}/${randomBytes(8).toString('hex')}`;
      scripts.set(path, script);
      return { path, url: `${base}${path}` };
    },
    at: (path: string) => received.filter((r) => r.path === path),
    base,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

const request = (over: Partial<AccessRequest> = {}): AccessRequest => ({
  id: randomUUID(),
  state: 'pending',
  requester: { id: 'corp:alice-sub', username: 'alice', connector: 'corp', email: 'alice@example.test' },
  roles: ['prod-admin'],
  reason: 'INC-4711 restart the payments pods',
  duration_ms: 2 * 3_600_000,
  reviewers: { roles: ['sre'], approvals: 1 },
  reviews: [],
  created_at: new Date().toISOString(),
  pending_until: new Date(Date.now() + 86_400_000).toISOString(),
  ...over,
});

const channel = (over: Partial<NotificationConfig> & Pick<NotificationConfig, 'name' | 'type'>): NotificationConfig => ({
  attempts: 5,
  timeout: 5000,
  ...over,
});

const sign = (secret: string, timestamp: string, body: string) => createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex');

/** What a receiver does (docs/access-requests.md): a valid signature over a timestamp less than 5 minutes old. */
function verifies(secret: string, headers: IncomingHttpHeaders, body: string): boolean {
  const timestamp = String(headers['x-gatehouse-timestamp']);
  const given = Buffer.from(String(headers['x-gatehouse-signature']));
  const expected = Buffer.from(`sha256=${sign(secret, timestamp, body)}`);
  const fresh = Math.abs(Date.now() / 1000 - Number(timestamp)) < 300;
  return fresh && given.length === expected.length && timingSafeEqual(given, expected);
}

describe('access request notifications', () => {
  let dir: string;
  let auditDir: string;
  let audit: AuditBackend;
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  const logLines: string[] = [];
  const logger = pino({ level: 'debug' }, { write: (line: string) => void logLines.push(line) });

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'gatehouse-notify-'));
    auditDir = join(dir, 'audit');
    audit = createFileAuditBackend({ dir: auditDir, logger });
    receiver = await startReceiver();
  });

  after(async () => {
    await receiver.close();
    await audit.close();
    rmSync(dir, { recursive: true, force: true });
    // Whatever happened, no URL reached the log (a Slack webhook URL is a secret).
    assert.ok(!logLines.some((line) => line.includes(receiver.base)), 'a notification URL was logged');
  });

  const secretFile = (name: string) => {
    const path = join(dir, `${name}-${randomUUID()}`);
    writeFileSync(path, `${randomBytes(32).toString('hex')}\n`);
    return path;
  };
  const notifierFor = (notifications: NotificationConfig[], backoffMs = () => 10) =>
    createRequestNotifier({ notifications, publicUrl: PUBLIC_URL, audit, logger, backoffMs });
  const webhook = (url: string, over: Partial<NotificationConfig> = {}) =>
    channel({ name: 'pager', type: 'webhook', url, secret_file: secretFile('hmac'), ...over });
  /** Notifies of a fresh request through a fresh notifier and waits for every delivery to finish. */
  const notifyOnce = async (notifications: NotificationConfig[], notice: 'created' | 'denied' = 'created', over: Partial<AccessRequest> = {}) => {
    const notifier = notifierFor(notifications);
    const r = request(over);
    assert.equal(notifier.notify(notice, r), undefined, 'notify returns at once, without throwing');
    await notifier.idle();
    return r;
  };
  const notifyEvents = (requestId: string): AuditEvent[] =>
    readAuditEvents(auditDir).filter((e) => e.type === 'access_request.notify' && e.details?.request_id === requestId);
  /** The one notify event of a request (with one channel). */
  const onlyEvent = (requestId: string): AuditEvent => {
    const events = notifyEvents(requestId);
    assert.equal(events.length, 1, 'one access_request.notify event');
    return events[0];
  };

  test('a webhook is signed over timestamp and body with the key from secret_file', async () => {
    const hook = receiver.endpoint();
    const keyFile = secretFile('hmac');
    const r = await notifyOnce([webhook(hook.url, { secret_file: keyFile })]);
    const [message, ...more] = receiver.at(hook.path);
    assert.equal(more.length, 0, 'one message');
    assert.equal(message.headers['content-type'], 'application/json');
    const secret = readFileSync(keyFile, 'utf8').trim();
    assert.ok(verifies(secret, message.headers, message.body), 'the signature validates');
    const tampered = message.body.replace('INC-4711', 'INC-4712');
    assert.notEqual(tampered, message.body);
    assert.equal(verifies(secret, message.headers, tampered), false, 'a tampered body does not validate');
    assert.equal(verifies(randomBytes(32).toString('hex'), message.headers, message.body), false, 'another key does not validate');

    const body = JSON.parse(message.body) as { id: string; type: string; sent_at: string; request: AccessRequest & { url: string } };
    assert.equal(body.id, message.headers['x-gatehouse-delivery']);
    assert.equal(body.type, 'access_request.created');
    assert.equal(body.request.id, r.id);
    assert.equal(body.request.state, 'pending');
    assert.deepEqual(body.request.requester, { username: 'alice', email: 'alice@example.test' });
    assert.deepEqual(body.request.roles, ['prod-admin']);
    assert.equal(body.request.reason, r.reason);
    assert.equal(body.request.duration_ms, r.duration_ms);
    assert.deepEqual(body.request.reviewers, r.reviewers);
    assert.equal(body.request.url, `${PUBLIC_URL}/requests/${r.id}`);
    assert.ok(!Number.isNaN(Date.parse(body.sent_at)));

    const event = onlyEvent(r.id);
    assert.equal(event.outcome, 'success');
    assert.equal(event.code, 'GH5050I');
    assert.equal(event.user, 'alice');
    assert.equal(event.connector, 'corp');
    assert.deepEqual(event.details, {
      request_id: r.id,
      access_requests: [{ id: r.id, reason: r.reason }],
      notification: 'pager',
      notice: 'created',
      attempts: 1,
      status: 200,
    });
  });

  test('a rotated secret_file applies to the next message without a restart', async () => {
    const hook = receiver.endpoint();
    const keyFile = secretFile('rotating');
    const notifier = notifierFor([webhook(hook.url, { secret_file: keyFile })]);
    const rotated = randomBytes(32).toString('hex');
    notifier.notify('created', request());
    await notifier.idle();
    writeFileSync(keyFile, `  ${rotated}\n`);
    notifier.notify('approved', request({ state: 'active' }));
    await notifier.idle();
    const [first, second] = receiver.at(hook.path);
    assert.equal(verifies(rotated, first.headers, first.body), false);
    assert.ok(verifies(rotated, second.headers, second.body));
    assert.equal((JSON.parse(second.body) as { type: string }).type, 'access_request.approved');
  });

  test('500, 500, then 200: delivered once after three attempts with one delivery id', async () => {
    const hook = receiver.endpoint((n) => (n < 2 ? 500 : 200));
    const r = await notifyOnce([webhook(hook.url)]);
    const attempts = receiver.at(hook.path);
    assert.equal(attempts.length, 3);
    const deliveries = new Set(attempts.map((a) => a.headers['x-gatehouse-delivery']));
    assert.equal(deliveries.size, 1, 'the same X-Gatehouse-Delivery on every retry');
    assert.equal(new Set(attempts.map((a) => a.body)).size, 1, 'the same body on every retry');
    const event = onlyEvent(r.id);
    assert.equal(event.outcome, 'success');
    assert.equal(event.details?.attempts, 3);
    assert.equal(event.details?.status, 200);
  });

  test('a receiver that always fails: audited as delivery_failed after the last attempt, nothing thrown', async () => {
    const hook = receiver.endpoint(() => 500);
    const r = await notifyOnce([webhook(hook.url, { attempts: 3 })], 'denied');
    assert.equal(receiver.at(hook.path).length, 3);
    const event = onlyEvent(r.id);
    assert.equal(event.outcome, 'failure');
    assert.equal(event.code, 'GH5051W');
    assert.equal(event.reason, 'delivery_failed');
    assert.deepEqual(event.details, {
      request_id: r.id,
      access_requests: [{ id: r.id, reason: r.reason }],
      notification: 'pager',
      notice: 'denied',
      attempts: 3,
      last_status: 500,
    });
  });

  test('a 4xx other than 429 is final; 429 is retried', async () => {
    const gone = receiver.endpoint(() => 410);
    const limited = receiver.endpoint((n) => (n === 0 ? 429 : 200));
    const r = await notifyOnce([webhook(gone.url, { name: 'gone' }), webhook(limited.url, { name: 'limited' })]);
    assert.equal(receiver.at(gone.path).length, 1);
    assert.equal(receiver.at(limited.path).length, 2);
    const byName = new Map(notifyEvents(r.id).map((e) => [e.details?.notification, e]));
    assert.equal(byName.get('gone')?.reason, 'delivery_failed');
    assert.equal(byName.get('gone')?.details?.last_status, 410);
    assert.equal(byName.get('limited')?.outcome, 'success');
  });

  test('an attempt that times out is retried: delivered once', async () => {
    const hook = receiver.endpoint((n) => (n === 0 ? 'hang' : 200));
    const r = await notifyOnce([webhook(hook.url, { timeout: 200 })]);
    const attempts = receiver.at(hook.path);
    assert.equal(attempts.length, 2);
    assert.equal(new Set(attempts.map((a) => a.headers['x-gatehouse-delivery'])).size, 1);
    const event = onlyEvent(r.id);
    assert.equal(event.outcome, 'success');
    assert.equal(event.details?.attempts, 2);
  });

  test('slack: incoming-webhook JSON from a URL read from url_file, linking to the review page', async () => {
    const hook = receiver.endpoint();
    const urlFile = join(dir, `slack-url-${randomUUID()}`);
    writeFileSync(urlFile, `${hook.url}\n`);
    const r = await notifyOnce([channel({ name: 'sre-chat', type: 'slack', url_file: urlFile })], 'created', {
      reason: 'INC-4711 <!channel> & <https://evil.example|click>',
    });

    const [message, ...more] = receiver.at(hook.path);
    assert.equal(more.length, 0, 'one message');
    assert.equal(message.headers['content-type'], 'application/json');
    assert.equal(message.headers['x-gatehouse-signature'], undefined);
    const body = JSON.parse(message.body) as {
      text: string;
      blocks: { type: string; text: { type: string; text: string }; fields: { type: string; text: string }[] }[];
    };
    assert.deepEqual(Object.keys(body).sort(), ['blocks', 'text']);
    const link = `${PUBLIC_URL}/requests/${r.id}`;
    assert.match(body.text, new RegExp(`<${link}\\|[^>]+>`));
    for (const part of ['alice', 'prod-admin', 'INC-4711', '2h']) assert.ok(body.text.includes(part), `text names ${part}`);
    assert.equal(body.text.includes('\n'), false, 'text is one line');
    // Slack control characters in the reason are escaped: no @channel, no foreign link.
    assert.ok(body.text.includes('&lt;!channel&gt; &amp; &lt;https://evil.example|click&gt;'));
    assert.equal(body.text.includes('<!channel>'), false);

    assert.equal(body.blocks.length, 1);
    const [section] = body.blocks;
    assert.equal(section.type, 'section');
    assert.equal(section.text.type, 'mrkdwn');
    assert.ok(section.text.text.includes(`<${link}|`));
    assert.ok(section.fields.length >= 4 && section.fields.length <= 10);
    for (const field of section.fields) assert.equal(field.type, 'mrkdwn');
    const fields = section.fields.map((f) => f.text).join('\n');
    for (const part of ['alice', 'prod-admin', 'INC-4711', 'sre']) assert.ok(fields.includes(part), `fields name ${part}`);
    assert.equal(fields.includes('<!channel>'), false);
    assert.equal(onlyEvent(r.id).outcome, 'success');
  });

  test('for_roles: a notification for another role receives nothing', async () => {
    const mine = receiver.endpoint();
    const other = receiver.endpoint();
    const r = await notifyOnce([
      webhook(mine.url, { name: 'prod', for_roles: ['db-admin', 'prod-admin'] }),
      channel({ name: 'staging', type: 'slack', url: other.url, for_roles: ['staging-admin'] }),
    ]);
    assert.equal(receiver.at(mine.path).length, 1);
    assert.equal(receiver.at(other.path).length, 0);
    assert.deepEqual(
      notifyEvents(r.id).map((e) => e.details?.notification),
      ['prod'],
    );
  });

  test('a redirect is not followed and is a final failure', async () => {
    const target = receiver.endpoint();
    const bouncer = receiver.endpoint((_n, res) => {
      res.setHeader('location', target.url);
      return 307;
    });
    const r = await notifyOnce([webhook(bouncer.url)]);
    assert.equal(receiver.at(bouncer.path).length, 1, 'not retried');
    assert.equal(receiver.at(target.path).length, 0, 'not followed');
    const event = onlyEvent(r.id);
    assert.equal(event.reason, 'delivery_failed');
    assert.equal(event.details?.last_status, 307);
    assert.equal(event.details?.attempts, 1);
  });

  test('an unreadable secret_file is an audited failed delivery, not a crash', async () => {
    const hook = receiver.endpoint();
    const r = await notifyOnce([webhook(hook.url, { secret_file: join(dir, 'missing'), attempts: 2 })]);
    assert.equal(receiver.at(hook.path).length, 0, 'nothing is sent unsigned');
    const event = onlyEvent(r.id);
    assert.equal(event.reason, 'delivery_failed');
    assert.equal(event.details?.attempts, 2);
    assert.match(String(event.details?.last_error), /secret_file is unreadable \(ENOENT\)/);
  });

  test('close() stops scheduled retries; idle() then resolves with the failure audited', async () => {
    const hook = receiver.endpoint(() => 503);
    const notifier = notifierFor([webhook(hook.url)], () => 3_600_000);
    const r = request();
    notifier.notify('created', r);
    while (receiver.at(hook.path).length === 0) await new Promise((resolve) => setTimeout(resolve, 10));
    notifier.close();
    await notifier.idle();
    notifier.notify('created', request());
    await notifier.idle();
    assert.equal(receiver.at(hook.path).length, 1);
    const event = onlyEvent(r.id);
    assert.equal(event.reason, 'delivery_failed');
    assert.equal(event.details?.stopped, true);
    assert.equal(event.details?.last_status, 503);
  });
});
