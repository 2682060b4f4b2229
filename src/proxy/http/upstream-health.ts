import { type AuditSink, bestEffort } from '../../audit/sink.js';
import type { RequestContext } from '../../core/types.js';
import type { ForwardFailure } from './forward.js';

/**
 * Audits an app's upstream going away and coming back (`app.upstream`), not every request that
 * failed meanwhile: the first failure is written at once, then at most one reminder per
 * REMINDER_MS while it stays down, and a success when it answers again. Each event counts the
 * failed requests since the one before, so none goes unrecorded.
 */

const REMINDER_MS = 60_000;

export interface UpstreamHealth {
  failed(app: string, kind: ForwardFailure, err: Error, who: { user?: string; context: RequestContext }): void;
  /** Called on every upstream response; cheap while every upstream is up. */
  answered(app: string): void;
}

interface Outage {
  since: number;
  lastEvent: number;
  /** Failed requests not yet counted in an event. */
  unreported: number;
  total: number;
}

export function createUpstreamHealth(audit: AuditSink, logger: { error(obj: object, msg: string): void }): UpstreamHealth {
  const outages = new Map<string, Outage>();
  const write = bestEffort(audit, logger);

  return {
    failed(app, kind, err, who) {
      const now = Date.now();
      let outage = outages.get(app);
      if (!outage) outages.set(app, (outage = { since: now, lastEvent: 0, unreported: 0, total: 0 }));
      outage.unreported++;
      outage.total++;
      if (outage.lastEvent && now - outage.lastEvent < REMINDER_MS) return;
      write({
        type: 'app.upstream',
        outcome: 'failure',
        user: who.user,
        reason: kind === 'timeout' ? 'app_timeout' : 'app_unavailable',
        details: { app, error: err.message.slice(0, 256), failed_requests: outage.unreported, down_ms: now - outage.since },
        context: who.context,
      });
      outage.lastEvent = now;
      outage.unreported = 0;
    },
    answered(app) {
      if (!outages.size) return;
      const outage = outages.get(app);
      if (!outage) return;
      outages.delete(app);
      write({
        type: 'app.upstream',
        outcome: 'success',
        details: { app, failed_requests: outage.total, down_ms: Date.now() - outage.since },
      });
    },
  };
}
