import { GatehouseError } from '../../core/errors.js';
import type { ErrorCode } from '../../core/error-codes.js';

/**
 * An OAuth 2.0 error (RFC 6749 §5.2, RFC 8628 §3.5): `code` is the OAuth `error` value.
 * `reason` is our finer cause for the audit log (e.g. `refresh_token_reused`), and `user`
 * names the person when known.
 */
export class OAuthError extends GatehouseError {
  constructor(
    error: ErrorCode,
    description: string,
    readonly reason: string = error,
    readonly user?: string,
    status = error === 'invalid_client' ? 401 : 400,
  ) {
    super(error, description, { status, expose: true });
  }
}
