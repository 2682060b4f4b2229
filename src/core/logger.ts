import { pino, type Logger } from 'pino';

export type { Logger };

/** Paths pino replaces with [redacted]: cookies, credentials, tokens, SAML payloads. */
export const REDACT_PATHS = [
  'req.headers.cookie',
  'req.headers.authorization',
  'res.headers["set-cookie"]',
  '*.password',
  '*.client_secret',
  '*.clientSecret',
  '*.token',
  '*.id_token',
  '*.access_token',
  '*.refresh_token',
  // OAuth authorization codes travel in query strings; error `code` fields stay readable.
  'query.code',
  '*.query.code',
  '*.SAMLResponse',
  '*.upstreamIdToken',
];

/** The root logger: the one module-level singleton the design allows. */
export const createLogger = (level = process.env.LOG_LEVEL ?? 'info'): Logger =>
  pino({ level, redact: { paths: REDACT_PATHS, censor: '[redacted]' }, base: { svc: 'gatehouse' } });
