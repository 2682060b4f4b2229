import type { Access, Policy } from './policy.js';

/** A request without max_duration on its role lasts at most this long. */
export const DEFAULT_REQUEST_DURATION_MS = 3_600_000;

/** A role someone may request, and what the request needs. */
export interface RequestOption {
  role: string;
  maxDurationMs: number;
  /** Union of the reviewer roles of every role that allows the request; approvals: the largest. */
  reviewers: { roles: string[]; approvals: number };
  requireReason: boolean;
}

/**
 * What a person may request: requestable roles named in the `request.roles` of a role they hold.
 * `access` is resolved without their requests, so a request never widens what can be requested.
 */
export function requestOptions(access: Pick<Access, 'roles'>, policy: Pick<Policy, 'roles'>): RequestOption[] {
  const byName = new Map(policy.roles.map((r) => [r.name, r]));
  const options = new Map<string, RequestOption>();
  for (const held of access.roles) {
    const rule = byName.get(held)?.request;
    if (!rule) continue;
    for (const role of rule.roles) {
      const target = byName.get(role);
      if (!target?.requestable) continue;
      const option = options.get(role) ?? {
        role,
        maxDurationMs: target.max_duration_ms ?? DEFAULT_REQUEST_DURATION_MS,
        reviewers: { roles: [], approvals: 0 },
        requireReason: false,
      };
      option.reviewers = {
        roles: [...new Set([...option.reviewers.roles, ...rule.reviewers.roles])].sort(),
        approvals: Math.max(option.reviewers.approvals, rule.reviewers.approvals),
      };
      option.requireReason ||= rule.require_reason;
      options.set(role, option);
    }
  }
  return [...options.values()].sort((a, b) => a.role.localeCompare(b.role));
}

/** Whether someone with this access holds one of the reviewer roles. */
export const holdsReviewerRole = (access: Pick<Access, 'roles'>, reviewerRoles: string[]): boolean => reviewerRoles.some((r) => access.roles.includes(r));
