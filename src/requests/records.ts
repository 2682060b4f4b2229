import { randomUUID } from 'node:crypto';
import { GatehouseError } from '../core/errors.js';
import type { ExternalIdentity } from '../core/types.js';
import type { Store } from '../store/store.js';
import { subscribeUntilClosed, type Subscription } from '../store/subscription.js';
import type { AccessRequest } from './model.js';

const REQUESTS = 'access-requests';
const PEOPLE = 'access-requests:people';
const lockKey = (id: string) => `access-requests:lock:${id}`;
/** Published with a request id whenever that request changes, so every replica reloads it. */
export const CHANGED_CHANNEL = 'access-requests:changed';

const LOCK_TTL_S = 10;
const LOCK_TRIES = 40;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Access requests in the store: one map of records (so replicas list the same requests and a
 * restart loses none), a short lock per request for every change, and a channel announcing changes.
 */
export function createRequestRecords(store: Store) {
  const parse = (raw: string | null): AccessRequest | undefined => (raw === null ? undefined : (JSON.parse(raw) as AccessRequest));
  return {
    async all(): Promise<AccessRequest[]> {
      return Object.values(await store.mapEntries(REQUESTS)).map((raw) => JSON.parse(raw) as AccessRequest);
    },
    get: async (id: string) => parse(await store.mapGet(REQUESTS, id)),
    async put(request: AccessRequest): Promise<void> {
      await store.mapSet(REQUESTS, request.id, JSON.stringify(request));
      await store.publish(CHANGED_CHANNEL, request.id);
    },
    remove: (id: string) => store.mapDelete(REQUESTS, id),

    /** Runs `change` holding the request's lock, so two reviews (or a review and the expiry) never interleave. */
    async locked<T>(id: string, change: () => Promise<T>): Promise<T> {
      const token = randomUUID();
      for (let attempt = 0; !(await store.setIfAbsent(lockKey(id), token, LOCK_TTL_S)); attempt++) {
        if (attempt >= LOCK_TRIES) throw new GatehouseError('request_busy', 'Another change to this request is in progress; try again.');
        await sleep(25 + Math.random() * 25);
      }
      try {
        return await change();
      } finally {
        if ((await store.get(lockKey(id)).catch(() => null)) === token) await store.delete(lockKey(id)).catch(() => undefined);
      }
    },

    /** People seen signing in, so a request can name who is able to review it. */
    rememberPerson: (id: string, identity: ExternalIdentity) =>
      store.mapSet(PEOPLE, id, JSON.stringify({ ...identity, upstreamGrant: undefined, seen_at: new Date().toISOString() })),
    async people(): Promise<ExternalIdentity[]> {
      return Object.values(await store.mapEntries(PEOPLE)).map((raw) => JSON.parse(raw) as ExternalIdentity);
    },

    watch: (onChanged: (id: string) => void): Subscription => subscribeUntilClosed(store, CHANGED_CHANNEL, onChanged),
  };
}

export type RequestRecords = ReturnType<typeof createRequestRecords>;
