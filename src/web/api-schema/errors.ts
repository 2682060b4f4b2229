/** The error bodies: the API's `{ error, message, request_id }` and the OAuth endpoints' RFC 6749 body. */
import { z } from 'zod';
import { ERROR_CODES, type ErrorCode } from '../../core/error-codes.js';

const code = z.enum(Object.keys(ERROR_CODES) as [ErrorCode, ...ErrorCode[]]).describe('A stable code; docs/errors.md says what each one means.');

export const errorBody = z
  .object({
    error: code,
    message: z.string().describe('For people; a server error (5xx) says only that the operators have the details.'),
    request_id: z.string().optional().describe('The answer’s `x-request-id`, as the logs and audit events carry it.'),
  })
  .meta({ description: 'Every error of the API (and of other endpoints asked for JSON).' });
export type ErrorBody = z.infer<typeof errorBody>;

export const oauthErrorBody = z
  .object({ error: code.describe('The OAuth `error` (RFC 6749 §5.2, RFC 8628 §3.5) or a Gatehouse code.'), error_description: z.string() })
  .meta({ description: 'Errors of the OAuth endpoints (RFC 6749 §5.2).' });
export type OAuthErrorBody = z.infer<typeof oauthErrorBody>;
