import { createHash, randomBytes } from 'node:crypto';

/** Unguessable id, base64url, 256 bits by default. */
export const randomId = (bytes = 32): string => randomBytes(bytes).toString('base64url');

export const sha256Hex = (data: string | Buffer): string => createHash('sha256').update(data).digest('hex');
