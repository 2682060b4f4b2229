import { claimAt } from '../core/claims.js';
import type { ExternalIdentity } from '../core/types.js';

/** Values of a claim as strings. `groups` means the normalised groups of any protocol. */
export function claimValues(identity: ExternalIdentity, claim: string): string[] {
  if (claim === 'groups') return identity.groups;
  if (claim === 'email') return identity.email ? [identity.email] : [];
  if (claim === 'username') return [identity.username];
  const value = claimAt(identity.claims, claim);
  if (value === undefined || value === null) return [];
  return (Array.isArray(value) ? value : [value]).map(String);
}
