import type { Policy } from '../access/policy.js';
import type { AuditSink } from '../audit/sink.js';
import { systemClock, type Clock } from '../core/clock.js';
import type { Logger } from '../core/logger.js';
import type { Store } from '../store/store.js';
import { createRequestBoundSessions } from './bound-sessions.js';
import { withRequestEvidence } from './evidence.js';
import { createRequestGrants } from './grants.js';
import { createRequestRecords } from './records.js';
import { createAccessRequests, type AccessRequestsDeps } from './service.js';

export type { AccessRequests, Actor, RequestView } from './service.js';

const SWEEP_MS = 5000;

/**
 * Just-in-time access requests, assembled: records in the store, this replica's active grants
 * (which policy reads through `policy.requestGrants`), the sessions bound to them, the
 * lifecycle, and the sweep that expires overdue requests.
 */
export function createRequests(options: {
  store: Store;
  policy: Policy;
  logger: Logger;
  pendingTtlMs: number;
  retentionMs: number;
  clock?: Clock;
  notify?: AccessRequestsDeps['notify'];
  sweepMs?: number;
}) {
  const clock = options.clock ?? systemClock;
  const records = createRequestRecords(options.store);
  // (grants is read only when a session binds, after both exist.)
  const bound = createRequestBoundSessions((id) => grants.isActive(id));
  const grants = createRequestGrants({
    records,
    clock,
    logger: options.logger,
    onEnded: (id) => {
      const ended = bound.endFor(id);
      if (ended) options.logger.info({ request: id, sessions: ended }, 'access request ended: its sessions end too');
    },
  });
  options.policy.requestGrants = grants.forIdentity;
  let sweeper: NodeJS.Timeout | undefined;
  return {
    grants,
    bound,
    /** The audit sink that tags events with their person's active requests; build the service with it. */
    withEvidence: <T extends AuditSink>(sink: T): T => withRequestEvidence(sink, grants.forActor),
    /** The lifecycle, emitting through `audit` (already wrapped by withEvidence). */
    service(audit: AuditSink) {
      const service = createAccessRequests({
        records,
        grants,
        policy: options.policy,
        audit,
        logger: options.logger,
        clock,
        pendingTtlMs: options.pendingTtlMs,
        retentionMs: options.retentionMs,
        notify: options.notify,
      });
      sweeper ??= setInterval(
        () => void service.sweep().catch((err: Error) => options.logger.warn({ err: err.message }, 'access request sweep failed; retrying')),
        options.sweepMs ?? SWEEP_MS,
      );
      sweeper.unref();
      return service;
    },
    start: () => grants.start(),
    async close() {
      clearInterval(sweeper);
      await grants.close();
    },
  };
}
