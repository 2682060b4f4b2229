import { createHash, timingSafeEqual } from 'node:crypto';

/** RFC 7636 verifier syntax: 43–128 characters of [A-Za-z0-9-._~]. */
const VERIFIER = /^[A-Za-z0-9\-._~]{43,128}$/;
const CHALLENGE = /^[A-Za-z0-9_-]{43}$/;

export const isValidChallenge = (challenge: unknown): challenge is string => typeof challenge === 'string' && CHALLENGE.test(challenge);

/** S256 only: BASE64URL(SHA256(verifier)) must equal the challenge sent with the authorization request. */
export function verifyPkce(verifier: unknown, challenge: string): boolean {
  if (typeof verifier !== 'string' || !VERIFIER.test(verifier)) return false;
  const computed = Buffer.from(createHash('sha256').update(verifier).digest('base64url'));
  const expected = Buffer.from(challenge);
  return computed.length === expected.length && timingSafeEqual(computed, expected);
}
