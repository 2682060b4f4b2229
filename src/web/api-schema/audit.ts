/** The audit log: search (JSON pages or streamed exports), one event, chain verification. */
import { z } from 'zod';
import { AUDIT_EVENTS, type AuditEventType } from '../../audit/catalogue.js';
import { DEFAULT_LIMIT, MAX_LIMIT } from '../../audit/query.js';
import type { AuditBackend, AuditPage } from '../../audit/reader.js';
import type { AuditEvent } from '../../audit/sink.js';
import type { VerifyResult } from '../../audit/verify.js';
import { errors, json, UNAUTHENTICATED, type ApiOperation } from './operation.js';
import { schemaOf, type Flat } from './typed.js';

const UUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;
const located = (what: string) => z.string().optional().describe(`The ${what} involved.`);

const auditEvent = schemaOf<AuditEvent>()(
  z
    .object({
      id: z.string().regex(UUID),
      time: z.iso.datetime(),
      type: z.enum(Object.keys(AUDIT_EVENTS) as [AuditEventType, ...AuditEventType[]]).describe('docs/audit-events.md describes each type.'),
      code: z.string().describe('One code per type and outcome (`GH1000I`).'),
      outcome: z.enum(['success', 'failure']),
      user: z.string().optional(),
      connector: z.string().optional(),
      roles: z.array(z.string()).optional(),
      remote_addr: z.string().optional(),
      user_agent: z.string().optional(),
      request_id: z.string().optional(),
      session_id: z.string().optional(),
      cluster: located('Kubernetes cluster'),
      node: located('SSH node'),
      app: located('HTTP app'),
      reason: z.string().optional().describe('Why it failed: an error code.'),
      details: z.record(z.string(), z.unknown()).optional().describe('Type-specific fields.'),
      prev_hash: z.string().describe('The hash of the event before it in the chain (empty while the event waits in a spool).'),
      hash: z.string(),
    })
    .meta({ description: 'One audit event, chained by hash to the one before it.' }),
);

const auditPage = schemaOf<AuditPage>()(
  z
    .object({
      events: z.array(auditEvent),
      next_cursor: z.string().nullable().describe('Resume after the last event of this page (null when the page is empty).'),
      first_cursor: z.string().nullable().describe('The position of the first event of this page (for a tail to continue from).'),
      has_more: z.boolean(),
    })
    .meta({ description: 'One page of matching events.' }),
);

const chainBreak = z.object({
  reason: z.enum(['unparseable', 'hash_mismatch', 'prev_hash_mismatch', 'unanchored_start', 'index_mismatch']),
  id: z.string().optional(),
  index: z.number().int().describe('0-based position in the chain as read.'),
  location: z.string().describe('Where it is stored: `audit-2026-01-31.jsonl:17` or `seq 42`.'),
  message: z.string(),
  expected: z.string().optional(),
  actual: z.string().optional(),
});

const auditVerify = schemaOf<Flat<{ backend: AuditBackend['kind'] } & VerifyResult>>()(
  z
    .object({
      backend: z.enum(['file', 'postgres']),
      ok: z.boolean(),
      events: z.number().int().describe('Events read (up to and including a break).'),
      anchor: z.string().describe('The prev_hash of the first event: genesis, or the anchor left by retention.'),
      head: z.string().describe('The hash of the last event read: the chain head when ok.'),
      first_time: z.string().optional(),
      last_time: z.string().optional(),
      break: chainBreak.optional(),
    })
    .meta({ description: 'The result of verifying the whole hash chain.' }),
);

const filter = (description: string) => z.string().max(256).optional().describe(description);

/** The query string of `GET /api/v1/audit/events` (parsed by parseAuditQuery, src/audit/query.ts). */
const auditEventsQuery = z.object({
  from: z.string().optional().describe('Inclusive RFC 3339 instant; a date, or a date-time without zone, is UTC.'),
  to: z.string().optional().describe('Exclusive RFC 3339 instant.'),
  type: z
    .array(z.string().regex(/^(?:\*|[a-z0-9_]+(?:\.[a-z0-9_]+)*(?:\.\*)?)$/))
    .max(20)
    .optional()
    .describe('Exact types (`user.login`) or prefixes (`session.*`); repeatable or comma-separated, OR-ed.'),
  user: filter('The event’s user, exactly (non-auditors may give only their own).'),
  session_id: filter('The session id (top level or in details).'),
  cluster: filter('The cluster (top level or in details).'),
  node: filter('The SSH node (top level or in details).'),
  app: filter('The HTTP app (top level or in details).'),
  outcome: z.enum(['success', 'failure']).optional(),
  q: filter('Case-insensitive substring of any one value of the event.'),
  id: z.string().regex(UUID).optional().describe('One event by id.'),
  limit: z.number().int().min(1).max(MAX_LIMIT).default(DEFAULT_LIMIT).describe('Events per page; for an export, at most this many (default: every match).'),
  cursor: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,200}$/)
    .optional()
    .describe('A next_cursor or first_cursor from an earlier page.'),
  order: z.enum(['asc', 'desc']).default('desc').describe('Chain order, or newest first.'),
  format: z
    .enum(['json', 'ndjson', 'csv'])
    .optional()
    .describe('json (default) pages; ndjson and csv stream every match. `Accept: application/x-ndjson` also asks for ndjson.'),
});

const FORBIDDEN = 'A non-auditor asked for someone else’s events (`audit_forbidden`, audited as audit.read).';

export const auditOperations: ApiOperation[] = [
  {
    method: 'get',
    path: '/api/v1/audit/events',
    tag: 'audit',
    summary: 'Search the audit log',
    description: 'A role with `audit: read` sees every event; anyone else only their own. Results are in chain order or newest first, with stable cursors.',
    auth: 'principal',
    query: auditEventsQuery,
    responses: {
      200: {
        description: 'A page of events, or an export.',
        content: {
          'application/json': { kind: 'json', name: 'AuditPage', schema: auditPage },
          'application/x-ndjson': { kind: 'text', description: 'One AuditEvent (JSON) per line.' },
          'text/csv': { kind: 'text', description: 'A header line, then one event per line.' },
        },
      },
      ...errors({ 400: 'A filter is malformed (`invalid_query`) or the cursor is not this log’s (`invalid_cursor`).', ...UNAUTHENTICATED, 403: FORBIDDEN }),
    },
  },
  {
    method: 'get',
    path: '/api/v1/audit/events/{id}',
    tag: 'audit',
    summary: 'One audit event',
    auth: 'principal',
    pathParams: z.object({ id: z.string().describe('The event id (a UUID).') }),
    responses: {
      200: json('The event.', 'AuditEvent', auditEvent),
      ...errors({ ...UNAUTHENTICATED, 404: 'No such event, or one the caller may not see (`not_found`).' }),
    },
  },
  {
    method: 'get',
    path: '/api/v1/audit/verify',
    tag: 'audit',
    summary: 'Verify the hash chain of the whole audit log (auditors only)',
    auth: 'principal',
    responses: {
      200: json('The verification result; a break names the first event that fails.', 'AuditVerify', auditVerify),
      ...errors({ ...UNAUTHENTICATED, 403: 'The caller has no role with `audit: read` (`audit_forbidden`).' }),
    },
  },
];
