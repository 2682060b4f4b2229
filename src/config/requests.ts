import { z } from 'zod';
import { duration } from './fields.js';

/*
 * The config of just-in-time access requests (docs/access-requests.md): each role's `requestable`,
 * `max_duration` and `request` fields, the `access_requests` timings and `notifications`.
 * schema.ts includes them.
 */

/** Fields every role may set. */
export const roleRequestFields = {
  /** Granted only by an approved request, never by a mapping. */
  requestable: z.boolean().default(false),
  /** The longest a request for this role may last, from activation (default 1h). */
  max_duration: duration.optional(),
  /** What holders of this role may ask for, and who must approve. */
  request: z
    .strictObject({
      roles: z.array(z.string().min(1)).min(1),
      reviewers: z.strictObject({ roles: z.array(z.string().min(1)).min(1), approvals: z.number().int().min(1).max(10).default(1) }),
      require_reason: z.boolean().default(false),
    })
    .optional(),
};

export const accessRequestsSection = z
  .strictObject({
    /** A request nobody decides on within this time expires. */
    pending_ttl: duration.default(86_400_000),
    /** Ended requests stay listable this long (their audit events stay as long as the audit log keeps them). */
    retention: duration.default(30 * 86_400_000),
  })
  .default({ pending_ttl: 86_400_000, retention: 30 * 86_400_000 });

const notification = z
  .strictObject({
    name: z.string().regex(/^[a-z0-9][a-z0-9_-]{0,62}$/, 'lowercase letters, digits, "-" and "_" only'),
    /** slack: a Slack incoming webhook; webhook: JSON signed with HMAC-SHA256. */
    type: z.enum(['slack', 'webhook']),
    url: z.url({ protocol: /^https?$/ }).optional(),
    /** A file holding the URL (a Slack webhook URL is a secret). */
    url_file: z.string().optional(),
    /** webhook: a file holding the HMAC key. */
    secret_file: z.string().optional(),
    /** Only requests for one of these roles (default: every request). */
    for_roles: z.array(z.string()).optional(),
    /** Attempts per message, with backoff between them (5xx, 429 and timeouts are retried). */
    attempts: z.number().int().min(1).max(10).default(5),
    timeout: duration.default(5000),
  })
  .refine((n) => Boolean(n.url) !== Boolean(n.url_file), { message: 'set exactly one of url and url_file' })
  .refine((n) => n.type !== 'webhook' || n.secret_file, { message: 'a webhook needs secret_file (the HMAC key)', path: ['secret_file'] });

export const notificationsSection = z.array(notification).default([]);
export type NotificationConfig = z.output<typeof notification>;
