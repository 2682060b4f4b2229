/**
 * Hop-by-hop headers (RFC 9110 §7.6.1, plus the legacy Keep-Alive and Proxy-Connection): they
 * describe one connection, so a proxy consumes them and passes none on, in either direction.
 */
export const HOP_BY_HOP: ReadonlySet<string> = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);
