/** Access requests: create, list, show, review, drop (docs/access-requests.md). */
import { z } from 'zod';
import { parseDuration } from '../../core/duration.js';
import { errors, json, UNAUTHENTICATED, type ApiOperation } from './operation.js';

const duration = z
  .union([z.string(), z.number().int().positive()])
  .transform((value, ctx) => {
    try {
      return parseDuration(value);
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: (err as Error).message });
      return z.NEVER;
    }
  })
  .describe('How long the roles last once approved: `2h`, `30m`, or seconds. Default: the roles’ max_duration.');

export const requestCreate = z.strictObject({
  roles: z.array(z.string().min(1)).min(1).max(16).describe('The requestable roles asked for.'),
  reason: z
    .string()
    .max(1000)
    .optional()
    .describe('Why; required when a role that allows the request sets require_reason. Name the ticket (INC-123): audit search finds it.'),
  duration: duration.optional(),
});

export const requestReview = z.strictObject({
  decision: z.enum(['approve', 'deny']),
  comment: z.string().max(1000).optional(),
});

export const requestListQuery = z.strictObject({
  state: z.enum(['pending', 'denied', 'active', 'expired', 'revoked']).optional(),
  mine: z.enum(['1', 'true']).optional().describe('Only the caller’s own requests.'),
});

const person = z.object({ id: z.string().describe('`connector:subject`'), username: z.string(), connector: z.string(), email: z.string().optional() });
const states = z.enum(['pending', 'denied', 'active', 'expired', 'revoked']);

const requestView = z
  .object({
    id: z.string(),
    state: states,
    requester: person,
    roles: z.array(z.string()),
    reason: z.string(),
    duration_ms: z.number().int().describe('How long the roles last once active.'),
    reviewers: z.object({ roles: z.array(z.string()), approvals: z.number().int().describe('Distinct approvals needed.') }),
    reviews: z.array(z.object({ reviewer: person, decision: z.enum(['approve', 'deny']), comment: z.string().optional(), at: z.iso.datetime() })),
    created_at: z.iso.datetime(),
    pending_until: z.iso.datetime().describe('A pending request expires then.'),
    activated_at: z.iso.datetime().optional(),
    expires_at: z.iso.datetime().optional().describe('When an active request ends.'),
    ended_at: z.iso.datetime().optional(),
    ended_by: z.string().optional().describe('A username, `expiry` or `pending_ttl`.'),
    approvals: z.number().int().describe('Distinct approvals so far.'),
    eligible_reviewers: z.array(person).describe('People who have signed in and may still approve it (pending only).'),
    can_review: z.boolean().describe('Whether the caller may review it now.'),
  })
  .meta({ description: 'An access request as the caller sees it.' });

const requestList = z
  .object({
    requests: z.array(requestView),
    requestable: z.array(
      z.object({
        role: z.string(),
        max_duration_ms: z.number().int(),
        reviewers: z.object({ roles: z.array(z.string()), approvals: z.number().int() }),
        require_reason: z.boolean(),
      }),
    ),
  })
  .meta({ description: 'The requests the caller may see, newest first, and what the caller may request.' });

const idParam = z.object({ id: z.string().describe('The request id.') });
const NOT_FOUND = { 404: 'No such request, or not one the caller may see (`request_not_found`).' };

export const requestOperations: ApiOperation[] = [
  {
    method: 'get',
    path: '/api/v1/requests',
    tag: 'requests',
    summary: 'Access requests the caller may see (their own, those they may review; all with audit: read)',
    auth: 'principal',
    query: requestListQuery,
    responses: { 200: json('The requests.', 'AccessRequestList', requestList), ...errors({ 400: 'A bad filter (`invalid_request`).', ...UNAUTHENTICATED }) },
  },
  {
    method: 'post',
    path: '/api/v1/requests',
    tag: 'requests',
    summary: 'Ask for requestable roles (audited as access_request.create)',
    auth: 'principal',
    body: { media: 'application/json', schema: requestCreate, required: true },
    responses: {
      201: json('The pending request.', 'AccessRequest', requestView),
      ...errors({
        400: 'A bad body (`invalid_request`), a missing reason (`request_reason_required`) or too long a duration (`request_duration_exceeded`).',
        ...UNAUTHENTICATED,
        403: 'A role that is not requestable, or that none of the caller’s roles may request (`request_role_not_allowed`).',
      }),
    },
  },
  {
    method: 'get',
    path: '/api/v1/requests/{id}',
    tag: 'requests',
    summary: 'One access request, with who may still approve it',
    auth: 'principal',
    pathParams: idParam,
    responses: { 200: json('The request.', 'AccessRequest', requestView), ...errors({ ...UNAUTHENTICATED, ...NOT_FOUND }) },
  },
  {
    method: 'delete',
    path: '/api/v1/requests/{id}',
    tag: 'requests',
    summary: 'Withdraw or end a request (the requester), or revoke it (a reviewer); audited as access_request.revoke',
    auth: 'principal',
    pathParams: idParam,
    responses: {
      200: json('The revoked request.', 'AccessRequest', requestView),
      ...errors({
        ...UNAUTHENTICATED,
        403: 'Another person’s request, without a reviewer role for it (`request_reviewer_forbidden`).',
        ...NOT_FOUND,
        409: 'Already ended (`request_not_active`) or busy (`request_busy`).',
      }),
    },
  },
  {
    method: 'post',
    path: '/api/v1/requests/{id}/review',
    tag: 'requests',
    summary: 'Approve or deny (a reviewer role, never the requester); audited as access_request.review',
    auth: 'principal',
    pathParams: idParam,
    body: { media: 'application/json', schema: requestReview, required: true },
    responses: {
      200: json('The request after the review (active once enough distinct reviewers approved).', 'AccessRequest', requestView),
      ...errors({
        400: 'A bad body (`invalid_request`).',
        ...UNAUTHENTICATED,
        403: 'The requester (`request_self_review`) or someone without a reviewer role (`request_reviewer_forbidden`).',
        ...NOT_FOUND,
        409: 'Reviewed already by this person (`request_already_reviewed`), no longer pending (`request_not_pending`), or busy (`request_busy`).',
      }),
    },
  },
];
