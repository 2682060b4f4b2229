import { ERROR_CODES, type ErrorCode } from './error-codes.js';

/**
 * A failure with a stable machine-readable `code` from the catalogue (./error-codes.ts).
 * `status` defaults to the catalogue's status for the code.
 * `expose` says whether `message` may be shown to the client; server errors
 * are logged in detail and shown as a generic message.
 */
export class GatehouseError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly expose: boolean;
  /** Extra facts for the audit event (never shown to the client), e.g. a SAML status code. */
  readonly details?: Record<string, unknown>;

  constructor(code: ErrorCode, message: string, options: { status?: number; expose?: boolean; cause?: unknown; details?: Record<string, unknown> } = {}) {
    super(message, { cause: options.cause });
    this.name = 'GatehouseError';
    this.code = code;
    this.status = options.status ?? ERROR_CODES[code].status;
    this.expose = options.expose ?? this.status < 500;
    if (options.details) this.details = options.details;
  }
}

export const isGatehouseError = (err: unknown): err is GatehouseError => err instanceof GatehouseError;

/** The shared store (Redis) cannot be reached: callers answer 503 and retry later. */
export const storeUnavailable = (cause?: unknown) =>
  new GatehouseError('store_unavailable', 'The session store is unreachable; please try again in a moment.', {
    status: 503,
    expose: true,
    cause,
  });
