import type { ExternalIdentity } from '../core/types.js';

/**
 * An access request's record and lifecycle. pending → denied, or → active when enough distinct
 * reviewers approve (the duration starts then); active → expired or revoked; pending → expired
 * (nobody decided within access_requests.pending_ttl) or revoked (the requester dropped it).
 */
export type RequestState = 'pending' | 'denied' | 'active' | 'expired' | 'revoked';

/** A person as requests name them: `id` is the token subject (`connector:subject`). */
export interface RequestPerson {
  id: string;
  username: string;
  connector: string;
  email?: string;
}

export interface Review {
  reviewer: RequestPerson;
  decision: 'approve' | 'deny';
  comment?: string;
  /** RFC 3339 */
  at: string;
}

export interface AccessRequest {
  id: string;
  state: RequestState;
  requester: RequestPerson;
  roles: string[];
  reason: string;
  /** How long it lasts once active. */
  duration_ms: number;
  /** Fixed when the request is made, from the roles that allowed it. */
  reviewers: { roles: string[]; approvals: number };
  reviews: Review[];
  created_at: string;
  /** A pending request expires at this instant. */
  pending_until: string;
  activated_at?: string;
  /** When an active request ends. */
  expires_at?: string;
  ended_at?: string;
  /** Who or what ended it: a username, `expiry`, `pending_ttl`. */
  ended_by?: string;
}

export const personOf = (identity: ExternalIdentity): RequestPerson => ({
  id: `${identity.connector}:${identity.subject}`,
  username: identity.username,
  connector: identity.connector,
  ...(identity.email ? { email: identity.email } : {}),
});

/** The same person: one subject, or one verified-looking email across two connectors. */
export function samePerson(a: RequestPerson, b: RequestPerson): boolean {
  if (a.id === b.id) return true;
  return a.email !== undefined && b.email !== undefined && a.email.toLowerCase() === b.email.toLowerCase();
}

export const approvalsOf = (request: AccessRequest): number => new Set(request.reviews.filter((r) => r.decision === 'approve').map((r) => r.reviewer.id)).size;

/** Whether the request is in effect at `now` (an active one past its end is treated as expired). */
export const inEffect = (request: AccessRequest, now: number): boolean =>
  request.state === 'active' && request.expires_at !== undefined && Date.parse(request.expires_at) > now;

/** The state once time is applied: an overdue pending or active request reads as expired. */
export function due(request: AccessRequest, now: number): 'pending_ttl' | 'expiry' | undefined {
  if (request.state === 'pending' && Date.parse(request.pending_until) <= now) return 'pending_ttl';
  if (request.state === 'active' && request.expires_at !== undefined && Date.parse(request.expires_at) <= now) return 'expiry';
  return undefined;
}

export const isEnded = (state: RequestState): boolean => state === 'denied' || state === 'expired' || state === 'revoked';
