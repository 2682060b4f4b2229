import { createHash, randomFillSync } from 'node:crypto';

// Random bytes are drawn from the CSPRNG 4 KiB at a time (as randomUUID does): one call into
// OpenSSL per request costs more than the id itself on the request path.
const POOL_BYTES = 4096;
const pool = Buffer.alloc(POOL_BYTES);
let used = POOL_BYTES;

/** Unguessable id, base64url, 256 bits by default. Each byte of the pool is handed out once. */
export const randomId = (bytes = 32): string => {
  if (bytes > POOL_BYTES) return randomFillSync(Buffer.alloc(bytes)).toString('base64url');
  if (used + bytes > POOL_BYTES) {
    randomFillSync(pool);
    used = 0;
  }
  const id = pool.toString('base64url', used, used + bytes);
  pool.fill(0, used, used + bytes); // an id handed out does not stay in the process's memory twice
  used += bytes;
  return id;
};

export const sha256Hex = (data: string | Buffer): string => createHash('sha256').update(data).digest('hex');
