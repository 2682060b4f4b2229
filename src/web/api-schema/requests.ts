/** Access requests: create, list, show, review, drop (docs/access-requests.md). */
import { z } from 'zod';
import { parseDuration } from '../../core/duration.js';

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
