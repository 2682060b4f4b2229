import { systemClock, type Clock } from '../../core/clock.js';
import type { Store } from '../../store/store.js';
import { OAuthError } from './errors.js';
import { createFamilyStore, type FamilyStore } from './families.js';
import type { OAuthServerOptions } from './options.js';
import { createTokenSetIssuer, type IssueTokenSet } from './token-set.js';

/** A token or authorization request's form (or query), as parsed: nothing in it is trusted yet. */
export type OAuthForm = Record<string, unknown>;

/** What every grant shares: the options, the client and audience checks, the families, the token set. */
export interface GrantContext {
  options: OAuthServerOptions;
  store: Store;
  clock: Clock;
  /** A store TTL (whole seconds, at least 1) for something that ends at `until`. */
  ttlSeconds(until: number): number;
  checkClient(clientId: unknown): void;
  /** The audience a request's `resource` names: the gateway's own when absent. */
  audienceOf(resource: unknown): string;
  families: FamilyStore;
  issue: IssueTokenSet;
}

export function createGrantContext(options: OAuthServerOptions): GrantContext {
  const clock = options.clock ?? systemClock;
  const ttlSeconds = (until: number) => Math.max(1, Math.ceil((until - clock.now()) / 1000));
  return {
    options,
    store: options.store,
    clock,
    ttlSeconds,
    checkClient(clientId) {
      if (clientId !== options.clientId) throw new OAuthError('invalid_client', 'Unknown client_id.');
    },
    audienceOf(resource) {
      if (resource === undefined || resource === '') return options.gatewayAudience;
      if (typeof resource !== 'string' || !options.resources().includes(resource)) {
        throw new OAuthError('invalid_target', 'resource names no cluster this gateway issues tokens for.');
      }
      return resource;
    },
    families: createFamilyStore(options, clock, ttlSeconds),
    issue: createTokenSetIssuer(options, clock),
  };
}
