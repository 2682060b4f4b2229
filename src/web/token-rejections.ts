import { type AuditSink, bestEffort } from '../audit/sink.js';
import { isGatehouseError } from '../core/errors.js';
import type { RequestContext } from '../core/types.js';

/**
 * Audits refused bearer tokens on the API (`auth.token_rejected`) without letting a flood of
 * garbage flood the audit log: at most one event per client address and reason per minute on
 * each replica, the next one carrying how many were suppressed in between. The table is bounded
 * (MAX_KEYS); when full, it is cleared, which at worst writes one more event per address.
 */
export interface TokenRejections {
  record(err: unknown, context: RequestContext, path: string): Promise<void>;
}

const WINDOW_MS = 60_000;
const MAX_KEYS = 10_000;

export function createTokenRejections(audit: AuditSink, logger: { error(obj: object, msg: string): void }, now: () => number = Date.now): TokenRejections {
  const seen = new Map<string, { until: number; suppressed: number }>();
  return {
    async record(err, context, path) {
      const reason = isGatehouseError(err) ? err.code : 'invalid_token';
      const key = `${context.remoteAddr ?? '-'}|${reason}`;
      const t = now();
      const entry = seen.get(key);
      if (entry && entry.until > t) {
        entry.suppressed++;
        return;
      }
      if (seen.size >= MAX_KEYS) seen.clear();
      seen.set(key, { until: t + WINDOW_MS, suppressed: 0 });
      await bestEffort(
        audit,
        logger,
      )({
        type: 'auth.token_rejected',
        outcome: 'failure',
        reason,
        details: {
          error: isGatehouseError(err) ? err.message.slice(0, 200) : undefined,
          path: path.slice(0, 256),
          ...(entry?.suppressed ? { suppressed: entry.suppressed } : {}),
        },
        context,
      });
    },
  };
}
