import type { OutgoingHttpHeaders } from 'node:http';
import { matchesAny } from '../../access/match.js';

/**
 * Who the API server is told is acting. Enforces:
 * - every client `Impersonate-*` header is dropped; Gatehouse writes its own;
 * - `Impersonate-User` is `gatehouse:<username>`, unless the client asked (`kubectl --as`) for a
 *   user one of the person's roles lists in `kubernetes_users` (or for itself);
 * - `Impersonate-Group` is the mapped Kubernetes groups plus `system:authenticated`; a client
 *   `--as-group` narrows that to the groups asked for, each of which must be a mapped group;
 *   `--as` another user without `--as-group` carries only `system:authenticated`, as kube-apiserver does;
 * - `Impersonate-Uid` and `Impersonate-Extra-*` from the client are never honoured;
 * - extras say where the identity came from: connector, roles, remote address.
 */
export interface KubeIdentity {
  /** The Gatehouse username (without the prefix). */
  username: string;
  /** The mapped Kubernetes groups. */
  groups: string[];
  /** Kubernetes users the person's roles allow them to act as (`kubectl --as`). */
  users: string[];
  roles: string[];
  connector?: string;
}

export interface Impersonation {
  user: string;
  groups: string[];
  extra: Record<string, string[]>;
  /** What the client asked for with --as / --as-group, when it did. */
  requested?: { user?: string; groups: string[] };
}

export type ImpersonationResult = { ok: true; impersonation: Impersonation } | { ok: false; reason: 'impersonation_denied'; message: string };

export const EXTRA_PREFIX = 'gatehouse.dev/';

export function impersonate(
  identity: KubeIdentity,
  clientHeaders: NodeJS.Dict<string[]>,
  options: { usernamePrefix: string; remoteAddr?: string },
): ImpersonationResult {
  const self = `${options.usernamePrefix}${identity.username}`;
  const askedUser = single(clientHeaders['impersonate-user']);
  const askedGroups = list(clientHeaders['impersonate-group']);
  const extra: Record<string, string[]> = {
    [`${EXTRA_PREFIX}connector`]: identity.connector ? [identity.connector] : [],
    [`${EXTRA_PREFIX}roles`]: identity.roles,
    [`${EXTRA_PREFIX}remote-addr`]: options.remoteAddr ? [options.remoteAddr] : [],
  };
  for (const key of Object.keys(extra)) if (!extra[key].length) delete extra[key];

  let user = self;
  if (askedUser !== undefined && askedUser !== self) {
    if (!identity.users.length || !matchesAny(identity.users, askedUser) || askedUser.startsWith('system:')) {
      return { ok: false, reason: 'impersonation_denied', message: `${self} may not act as user "${askedUser}": no role lists it in kubernetes_users.` };
    }
    user = askedUser;
  }
  let groups: string[];
  if (askedGroups.length) {
    const refused = askedGroups.filter((g) => !identity.groups.includes(g) && g !== 'system:authenticated');
    if (refused.length) {
      return {
        ok: false,
        reason: 'impersonation_denied',
        message: `${self} may not act as group${refused.length > 1 ? 's' : ''} ${refused.map((g) => `"${g}"`).join(', ')}: not among the mapped Kubernetes groups.`,
      };
    }
    groups = [...new Set([...askedGroups.filter((g) => g !== 'system:authenticated'), 'system:authenticated'])];
  } else if (user !== self) {
    groups = ['system:authenticated'];
  } else {
    groups = [...identity.groups.filter((g) => g !== 'system:authenticated'), 'system:authenticated'];
  }
  const requested = askedUser !== undefined || askedGroups.length ? { user: askedUser, groups: askedGroups } : undefined;
  return { ok: true, impersonation: { user, groups, extra, requested } };
}

/** True for headers the client must never get through: all of Impersonate-*. */
export const isImpersonationHeader = (name: string) => name.toLowerCase().startsWith('impersonate-');

/** Writes the impersonation as headers (extra keys percent-encoded, as kube-apiserver expects). */
export function impersonationHeaders(imp: Impersonation): OutgoingHttpHeaders {
  const headers: OutgoingHttpHeaders = { 'Impersonate-User': imp.user, 'Impersonate-Group': imp.groups };
  for (const key in imp.extra) headers[extraHeaderName(key)] = imp.extra[key];
  return headers;
}

/** `Impersonate-Extra-<key, percent-encoded>`; the keys are a handful of constants, so each is encoded once. */
const extraNames = new Map<string, string>();
function extraHeaderName(key: string): string {
  let name = extraNames.get(key);
  if (name === undefined) {
    name = `Impersonate-Extra-${encodeURIComponent(key)}`;
    if (extraNames.size < 64) extraNames.set(key, name);
  }
  return name;
}

// Headers as `req.headersDistinct`: kubectl sends one Impersonate-Group header per group.
const single = (v: string[] | undefined) => v?.[0];
const list = (v: string[] | undefined) => (v ?? []).map((s) => s.trim()).filter(Boolean);
