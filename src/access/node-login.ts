import { allowedLogins, type Access } from './policy.js';

/** Why a login on a node is refused; callers keep these as their error codes and audit reasons. */
export type NodeLoginRefusal = 'unknown_node' | 'no_login_on_node' | 'login_not_allowed';

export type NodeLoginDecision<N> =
  { allowed: true; node: N; logins: string[] } | { allowed: false; reason: NodeLoginRefusal; node: N | undefined; logins: string[] };

/**
 * Whether a person may log in as `login` on an SSH node (undefined: no such node is configured),
 * with the logins they do have there, for messages and audit.
 */
export function checkNodeLogin<N extends { labels: Record<string, string> }>(access: Access, node: N | undefined, login: string): NodeLoginDecision<N> {
  if (!node) return { allowed: false, reason: 'unknown_node', node, logins: [] };
  const logins = allowedLogins(access, node.labels);
  if (logins.includes(login)) return { allowed: true, node, logins };
  return { allowed: false, reason: logins.length ? 'login_not_allowed' : 'no_login_on_node', node, logins };
}
