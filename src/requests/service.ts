import { randomUUID } from 'node:crypto';
import { resolveAccess, type Access, type Policy } from '../access/policy.js';
import { holdsReviewerRole, requestOptions, type RequestOption } from '../access/requests.js';
import type { AuditInput, AuditSink } from '../audit/sink.js';
import type { Clock } from '../core/clock.js';
import { GatehouseError, isGatehouseError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { ExternalIdentity, RequestContext } from '../core/types.js';
import type { RequestGrants } from './grants.js';
import { approvalsOf, due, isEnded, personOf, samePerson, type AccessRequest, type RequestPerson, type RequestState } from './model.js';
import type { RequestRecords } from './records.js';

/** What a notification is about (src/requests/notify.ts). */
export type RequestNotice = 'created' | 'approved' | 'denied';

export interface AccessRequestsDeps {
  records: RequestRecords;
  grants: RequestGrants;
  policy: Policy;
  audit: AuditSink;
  logger: Logger;
  clock: Clock;
  pendingTtlMs: number;
  retentionMs: number;
  /** Fire and forget: delivery retries and audits its own failures. */
  notify?: (notice: RequestNotice, request: AccessRequest) => void;
}

/** Who acts: their identity and current access (with their requests). */
export interface Actor {
  identity: ExternalIdentity;
  access: Access;
  context?: RequestContext;
}

/** A request as shown to one viewer: who may still approve it, and what this viewer may do. */
export interface RequestView extends AccessRequest {
  approvals: number;
  eligible_reviewers: RequestPerson[];
  can_review: boolean;
}

const iso = (ms: number) => new Date(ms).toISOString();

/**
 * The request lifecycle (src/requests/model.ts): create, review, drop, and the sweep that expires
 * overdue requests. Every change holds the request's lock, is audited with the request id, and is
 * applied to this replica's grants at once.
 */
export function createAccessRequests(deps: AccessRequestsDeps) {
  const { records, grants, audit, clock } = deps;
  /** Access from mappings alone: what may be requested and reviewed never depends on a request. */
  const baseAccess = (identity: ExternalIdentity): Access => resolveAccess(identity, { ...deps.policy, requestGrants: undefined });
  const evidence = (r: AccessRequest) => ({ request_id: r.id, access_requests: [{ id: r.id, reason: r.reason }], requested_roles: r.roles });
  const emit = (input: AuditInput) => audit.emit(input);
  const actorFields = (actor: Actor) => ({
    user: actor.identity.username,
    connector: actor.identity.connector,
    roles: actor.access.roles,
    context: actor.context,
  });

  const refuse = async (
    actor: Actor,
    type: 'access_request.create' | 'access_request.review' | 'access_request.revoke',
    err: GatehouseError,
    details: Record<string, unknown>,
  ): Promise<never> => {
    await emit({ type, outcome: 'failure', ...actorFields(actor), reason: err.code, details });
    throw err;
  };

  const mayReview = (identity: ExternalIdentity, r: AccessRequest) => holdsReviewerRole(baseAccess(identity), r.reviewers.roles);
  const visibleTo = (actor: Actor, r: AccessRequest) =>
    samePerson(personOf(actor.identity), r.requester) || mayReview(actor.identity, r) || actor.access.auditRead;

  /** People seen signing in (each once) who may still approve `r`: never the requester or someone who reviewed it. */
  const eligibleReviewers = (r: AccessRequest, people: ExternalIdentity[]): RequestPerson[] => {
    const seen = new Set<string>();
    const eligible: RequestPerson[] = [];
    for (const identity of people) {
      const person = personOf(identity);
      if (seen.has(person.id)) continue;
      seen.add(person.id);
      if (samePerson(person, r.requester) || r.reviews.some((rev) => rev.reviewer.id === person.id) || !mayReview(identity, r)) continue;
      eligible.push(person);
    }
    return eligible.sort((a, b) => a.username.localeCompare(b.username));
  };

  /** The requests as `actor` sees them; the people are read once, and only when one is pending. */
  async function views(actor: Actor, requests: AccessRequest[]): Promise<RequestView[]> {
    const me = personOf(actor.identity);
    const people = requests.some((r) => r.state === 'pending') ? await records.people() : [];
    return requests.map((r) => ({
      ...r,
      approvals: approvalsOf(r),
      eligible_reviewers: r.state === 'pending' ? eligibleReviewers(r, people) : [],
      can_review: r.state === 'pending' && !samePerson(me, r.requester) && mayReview(actor.identity, r) && !r.reviews.some((rev) => rev.reviewer.id === me.id),
    }));
  }
  const view = async (actor: Actor, r: AccessRequest): Promise<RequestView> => (await views(actor, [r]))[0];

  /** Ends an overdue request (holding its lock): the one `access_request.expire` event for it. */
  async function expireIfDue(r: AccessRequest): Promise<AccessRequest> {
    const why = due(r, clock.now());
    if (!why) return r;
    const ended: AccessRequest = { ...r, state: 'expired', ended_at: iso(clock.now()), ended_by: why };
    await records.put(ended);
    grants.apply(ended);
    await emit({
      type: 'access_request.expire',
      outcome: 'success',
      user: r.requester.username,
      connector: r.requester.connector,
      details: { ...evidence(r), from: r.state, ended_by: why },
    });
    return ended;
  }

  async function mustGet(actor: Actor, id: string): Promise<AccessRequest> {
    const r = await records.get(id);
    if (!r || !visibleTo(actor, r)) throw new GatehouseError('request_not_found', `No access request ${id} that you may see.`);
    return r;
  }

  return {
    /** The roles this person may request. */
    options: (identity: ExternalIdentity): RequestOption[] => requestOptions(baseAccess(identity), deps.policy),

    async create(actor: Actor, input: { roles: string[]; reason?: string; duration_ms?: number }): Promise<RequestView> {
      const reason = (input.reason ?? '').trim();
      const attempt = { requested_roles: input.roles, reason: reason || undefined, duration_ms: input.duration_ms };
      if (!input.roles.length) throw new GatehouseError('invalid_request', 'Name at least one role to request.');
      const options = requestOptions(baseAccess(actor.identity), deps.policy);
      const chosen: RequestOption[] = [];
      for (const role of input.roles) {
        const option = options.find((o) => o.role === role);
        if (!option) {
          const requestable = deps.policy.roles.find((r) => r.name === role)?.requestable;
          await refuse(
            actor,
            'access_request.create',
            new GatehouseError('request_role_not_allowed', requestable ? `None of your roles may request ${role}.` : `${role} is not a requestable role.`),
            attempt,
          );
        }
        chosen.push(option!);
      }
      const maxMs = Math.min(...chosen.map((o) => o.maxDurationMs));
      const durationMs = input.duration_ms ?? maxMs;
      if (!Number.isFinite(durationMs) || durationMs <= 0) throw new GatehouseError('invalid_request', 'duration must be positive.');
      if (durationMs > maxMs)
        await refuse(
          actor,
          'access_request.create',
          new GatehouseError('request_duration_exceeded', `The longest ${input.roles.join(', ')} may be granted for is ${maxMs / 60_000} minutes.`),
          attempt,
        );
      if (chosen.some((o) => o.requireReason) && !reason)
        await refuse(
          actor,
          'access_request.create',
          new GatehouseError('request_reason_required', 'A reason is required for this request (--reason).'),
          attempt,
        );
      if (reason.length > 1000) throw new GatehouseError('invalid_request', 'Keep the reason under 1000 characters.');

      const now = clock.now();
      const request: AccessRequest = {
        id: randomUUID(),
        state: 'pending',
        requester: personOf(actor.identity),
        roles: [...new Set(input.roles)].sort(),
        reason,
        duration_ms: durationMs,
        reviewers: {
          roles: [...new Set(chosen.flatMap((o) => o.reviewers.roles))].sort(),
          approvals: Math.max(...chosen.map((o) => o.reviewers.approvals)),
        },
        reviews: [],
        created_at: iso(now),
        pending_until: iso(now + deps.pendingTtlMs),
      };
      await records.put(request);
      await emit({
        type: 'access_request.create',
        outcome: 'success',
        ...actorFields(actor),
        details: { ...evidence(request), duration_ms: durationMs, reviewers: request.reviewers },
      });
      deps.notify?.('created', request);
      return view(actor, request);
    },

    async list(actor: Actor, filter: { state?: RequestState; mine?: boolean } = {}): Promise<RequestView[]> {
      const me = personOf(actor.identity);
      const all = (await records.all())
        .filter((r) => visibleTo(actor, r))
        .filter((r) => !filter.state || r.state === filter.state)
        .filter((r) => !filter.mine || samePerson(me, r.requester))
        .sort((a, b) => b.created_at.localeCompare(a.created_at));
      return views(actor, all);
    },

    get: async (actor: Actor, id: string): Promise<RequestView> => view(actor, await mustGet(actor, id)),

    async review(actor: Actor, id: string, input: { decision: 'approve' | 'deny'; comment?: string }): Promise<RequestView> {
      const reviewer = personOf(actor.identity);
      const details = { request_id: id, decision: input.decision };
      try {
        const updated = await records.locked(id, async () => {
          const found = await mustGet(actor, id);
          if (samePerson(reviewer, found.requester)) throw new GatehouseError('request_self_review', 'You cannot review your own request.');
          if (!mayReview(actor.identity, found))
            throw new GatehouseError('request_reviewer_forbidden', `Reviewing this request needs one of the roles ${found.reviewers.roles.join(', ')}.`);
          const r = await expireIfDue(found);
          if (r.state !== 'pending') throw new GatehouseError('request_not_pending', `This request is ${r.state}; only pending requests are reviewed.`);
          if (r.reviews.some((rev) => rev.reviewer.id === reviewer.id))
            throw new GatehouseError('request_already_reviewed', 'You have already reviewed this request.');
          const now = clock.now();
          const comment = input.comment?.trim().slice(0, 1000) || undefined;
          const next: AccessRequest = { ...r, reviews: [...r.reviews, { reviewer, decision: input.decision, ...(comment ? { comment } : {}), at: iso(now) }] };
          if (input.decision === 'deny') Object.assign(next, { state: 'denied', ended_at: iso(now), ended_by: reviewer.username });
          else if (approvalsOf(next) >= r.reviewers.approvals)
            Object.assign(next, { state: 'active', activated_at: iso(now), expires_at: iso(now + r.duration_ms) });
          await records.put(next);
          grants.apply(next);
          return next;
        });
        await emit({
          type: 'access_request.review',
          outcome: 'success',
          ...actorFields(actor),
          details: {
            ...evidence(updated),
            decision: input.decision,
            comment: input.comment?.trim() || undefined,
            approvals: approvalsOf(updated),
            state: updated.state,
          },
        });
        if (updated.state === 'active') {
          await emit({
            type: 'access_request.activate',
            outcome: 'success',
            user: updated.requester.username,
            connector: updated.requester.connector,
            details: {
              ...evidence(updated),
              expires_at: updated.expires_at,
              approved_by: updated.reviews.filter((r) => r.decision === 'approve').map((r) => r.reviewer.username),
            },
          });
          deps.notify?.('approved', updated);
        } else if (updated.state === 'denied') deps.notify?.('denied', updated);
        return view(actor, updated);
      } catch (err) {
        if (isGatehouseError(err) && err.status < 500) await refuse(actor, 'access_request.review', err, details);
        throw err;
      }
    },

    /** The requester withdraws, or a reviewer revokes: a pending or active request ends now. */
    async drop(actor: Actor, id: string): Promise<RequestView> {
      const me = personOf(actor.identity);
      try {
        const ended = await records.locked(id, async () => {
          const r = await expireIfDue(await mustGet(actor, id));
          if (!samePerson(me, r.requester) && !mayReview(actor.identity, r))
            throw new GatehouseError('request_reviewer_forbidden', `Revoking another person's request needs one of the roles ${r.reviewers.roles.join(', ')}.`);
          if (isEnded(r.state)) throw new GatehouseError('request_not_active', `This request is already ${r.state}.`);
          const next: AccessRequest = { ...r, state: 'revoked', ended_at: iso(clock.now()), ended_by: me.username };
          await records.put(next);
          grants.apply(next);
          return { before: r, next };
        });
        await emit({
          type: 'access_request.revoke',
          outcome: 'success',
          ...actorFields(actor),
          details: { ...evidence(ended.next), from: ended.before.state },
        });
        return view(actor, ended.next);
      } catch (err) {
        if (isGatehouseError(err) && err.status < 500) await refuse(actor, 'access_request.revoke', err, { request_id: id });
        throw err;
      }
    },

    /** Expires overdue requests and forgets ended ones past retention (every replica runs it; the lock makes each expiry one event). */
    async sweep(): Promise<void> {
      const now = clock.now();
      for (const r of await records.all()) {
        if (due(r, now)) {
          await records.locked(r.id, async () => {
            const current = await records.get(r.id);
            if (current) await expireIfDue(current);
          });
        } else if (r.ended_at && Date.parse(r.ended_at) + deps.retentionMs <= now) await records.remove(r.id);
      }
    },

    /** Remembers who signed in, so requests can name their eligible reviewers. */
    rememberPerson: (identity: ExternalIdentity) => records.rememberPerson(personOf(identity).id, identity),
  };
}

export type AccessRequests = ReturnType<typeof createAccessRequests>;
