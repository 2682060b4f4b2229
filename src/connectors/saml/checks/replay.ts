import { sha256Hex } from '../../../core/ids.js';
import type { Store } from '../../../store/store.js';
import { samlError } from '../errors.js';

/*
 * checkReplay enforces that an assertion id is accepted at most once per connector: the id is
 * written with setIfAbsent into the shared store (so every replica sees it) and kept until the
 * assertion's own expiry plus the clock skew, after which the validity check refuses it anyway.
 * It runs last, so a response refused for another reason does not burn its id.
 */

export const replayKey = (connector: string, assertionId: string) => `saml:assertion:${connector}:${sha256Hex(assertionId)}`;

export async function checkReplay(options: {
  store: Store;
  connector: string;
  assertionId: string;
  expiresAt: number;
  now: number;
  skewMs: number;
}): Promise<void> {
  const ttlSeconds = Math.max(1, Math.ceil((Math.min(options.expiresAt, options.now + 86_400_000) + options.skewMs - options.now) / 1000));
  const fresh = await options.store.setIfAbsent(replayKey(options.connector, options.assertionId), '1', ttlSeconds);
  if (!fresh) throw samlError('saml_replay', 'This SAML assertion was already used.');
}
