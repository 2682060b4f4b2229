import type { JWTPayload } from 'jose';
/** Types for the guide's example (docs/http-apps.md); the code is plain JavaScript for apps to copy. */
export function verifyAssertion(token: string, options: { gatehouseUrl: string; audience: string }): Promise<JWTPayload>;
