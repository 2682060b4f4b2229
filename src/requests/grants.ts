import type { RequestGrant } from '../access/policy.js';
import type { Clock } from '../core/clock.js';
import type { ExternalIdentity } from '../core/types.js';
import type { Logger } from '../core/logger.js';
import type { Subscription } from '../store/subscription.js';
import { inEffect, type AccessRequest } from './model.js';
import type { RequestRecords } from './records.js';

/**
 * The active requests of this replica, held in memory so every decision (policy runs
 * synchronously) sees them without a store round trip. A change is announced on the store's
 * channel and applied at once; a full reload every `reloadMs` bounds what a missed message costs.
 * When a request leaves effect (ended, or its time is up), `onEnded` runs once for it.
 */
export function createRequestGrants(options: {
  records: RequestRecords;
  clock: Clock;
  logger: Logger;
  onEnded: (id: string) => void;
  reloadMs?: number;
  tickMs?: number;
}) {
  const { records, clock } = options;
  const active = new Map<string, AccessRequest>();
  let byPerson = new Map<string, RequestGrant[]>();
  let byActor = new Map<string, RequestGrant[]>();

  const grantOf = (r: AccessRequest): RequestGrant => ({ id: r.id, roles: r.roles, expiresAt: Date.parse(r.expires_at!), reason: r.reason });
  const reindex = () => {
    byPerson = new Map();
    byActor = new Map();
    for (const r of active.values()) {
      const grant = grantOf(r);
      for (const [map, key] of [
        [byPerson, r.requester.id],
        [byActor, `${r.requester.connector}\n${r.requester.username}`],
      ] as const)
        map.set(key, [...(map.get(key) ?? []), grant]);
    }
  };
  const drop = (id: string) => {
    if (!active.delete(id)) return;
    try {
      options.onEnded(id);
    } catch (err) {
      options.logger.error({ err, request: id }, 'ending the sessions of an access request failed');
    }
  };
  const apply = (request: AccessRequest | undefined, id: string) => {
    if (request && inEffect(request, clock.now())) active.set(id, request);
    else drop(id);
    reindex();
  };

  async function reload(): Promise<void> {
    const all = await records.all();
    const now = clock.now();
    const live = new Set(all.filter((r) => inEffect(r, now)).map((r) => r.id));
    for (const id of [...active.keys()]) if (!live.has(id)) drop(id);
    for (const r of all) if (live.has(r.id)) active.set(r.id, r);
    reindex();
  }

  let subscription: Subscription | undefined;
  const timers: NodeJS.Timeout[] = [];
  const now = () => clock.now();
  const live = (grants: RequestGrant[] | undefined) => (grants ?? []).filter((g) => g.expiresAt > now());

  return {
    /** The active requests of this person (policy's `requestGrants`). */
    forIdentity: (identity: Pick<ExternalIdentity, 'connector' | 'subject'>): RequestGrant[] => live(byPerson.get(`${identity.connector}:${identity.subject}`)),
    /** The same, by what audit events name (connector and username). */
    forActor: (connector: string, username: string): RequestGrant[] => (byActor.size ? live(byActor.get(`${connector}\n${username}`)) : []),
    isActive: (id: string): boolean => {
      const r = active.get(id);
      return r !== undefined && inEffect(r, now());
    },
    /** For a token's `access_requests` claim: true when one of them is no longer in effect. */
    endedAmong(ids: unknown): boolean {
      if (!Array.isArray(ids)) return false;
      return ids.some((id) => {
        const r = typeof id === 'string' ? active.get(id) : undefined;
        return r === undefined || !inEffect(r, now());
      });
    },
    /** Applies a change made here at once (the channel brings it to the other replicas). */
    apply: (request: AccessRequest) => apply(request, request.id),
    reload,
    start(): void {
      subscription = records.watch((id) => {
        records.get(id).then(
          (r) => apply(r, id),
          () => {}, // the store is away: the next reload catches up
        );
      });
      const retryLoad = () => reload().catch(() => setTimeout(retryLoad, 1000).unref());
      retryLoad();
      timers.push(
        setInterval(() => {
          let changed = false;
          for (const [id, r] of active) {
            if (inEffect(r, now())) continue;
            drop(id);
            changed = true;
          }
          if (changed) reindex();
        }, options.tickMs ?? 1000),
        setInterval(() => void reload().catch(() => undefined), options.reloadMs ?? 15_000),
      );
      for (const t of timers) t.unref();
    },
    async close(): Promise<void> {
      for (const t of timers) clearInterval(t);
      await subscription?.close();
    },
  };
}

export type RequestGrants = ReturnType<typeof createRequestGrants>;
