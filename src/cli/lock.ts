import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

/*
 * withLock: an inter-process lock, so that of many parallel `gatehouse kube credentials` only
 * one refreshes (or opens the browser) while the others wait and then read its result.
 *   - the lock is a directory created with mkdir (atomic: exactly one creator wins), holding an
 *     `owner` file with a random token of the holder;
 *   - while held, a heartbeat touches the directory's mtime every `heartbeatMs` (default 2 s), so
 *     a holder waiting minutes for an interactive browser sign-in is never taken as abandoned;
 *   - a lock is stale only when its heartbeat is older than `staleMs` (default 3 heartbeats);
 *   - stale takeover is atomic: the stale directory is renamed to a name derived from the owner
 *     token and mtime that were seen stale. Two takers that saw the same stale lock compute the
 *     same name, and a rename onto a non-empty directory fails, so only one of them wins; a taker
 *     that finds it renamed a lock that is not the one it saw stale puts it back and waits;
 *   - the holder checks its token at every heartbeat and before release: when its lock was taken
 *     over (or removed) it aborts `signal`, withLock rejects with `LockCompromisedError`, and it
 *     never removes a lock that is not its own.
 */

export interface LockOptions {
  /** How long to wait for the lock before giving up (default 60 s). */
  timeoutMs?: number;
  /** Heartbeat interval while held (default 2 s). */
  heartbeatMs?: number;
  /** A lock whose heartbeat is older than this is abandoned (default 3 × heartbeatMs). */
  staleMs?: number;
}

export class LockCompromisedError extends Error {
  readonly code = 'ELOCKCOMPROMISED';
  constructor(path: string) {
    super(`the lock ${path} was taken over by another process while held`);
  }
}

const OWNER = 'owner';
const readOwner = (dir: string): string | undefined => {
  try {
    return readFileSync(join(dir, OWNER), 'utf8');
  } catch {
    return undefined;
  }
};

/** Tries to take over a stale lock; true when this process removed it (the caller then retries mkdir). */
function takeOverIfStale(path: string, staleMs: number): boolean {
  let mtimeMs: number;
  try {
    mtimeMs = statSync(path).mtimeMs;
  } catch {
    return true; // gone already: retry at once
  }
  if (Date.now() - mtimeMs <= staleMs) return false;
  const seenOwner = readOwner(path) ?? 'none';
  const aside = `${path}.stale-${seenOwner.replace(/[^A-Za-z0-9]/g, '')}-${Math.floor(mtimeMs)}`;
  try {
    renameSync(path, aside);
  } catch {
    return false; // another taker won (ENOTEMPTY/EEXIST), or the lock is gone: wait and retry
  }
  // Did we move the lock we saw stale? If a new holder re-created it meanwhile, put it back.
  let moved: { mtimeMs: number; owner: string };
  try {
    moved = { mtimeMs: statSync(aside).mtimeMs, owner: readOwner(aside) ?? 'none' };
  } catch {
    return false;
  }
  if (moved.owner !== seenOwner || Date.now() - moved.mtimeMs <= staleMs) {
    try {
      renameSync(aside, path);
    } catch {
      // the path exists again: that holder will see its lock is gone and abort
    }
    return false;
  }
  return true;
}

/** Removes takeover leftovers that are long dead (never the one a concurrent taker may still aim at). */
function sweep(path: string, staleMs: number): void {
  const dir = dirname(path);
  const prefix = `${basename(path)}.stale-`;
  try {
    for (const name of readdirSync(dir)) {
      if (!name.startsWith(prefix)) continue;
      const full = join(dir, name);
      if (Date.now() - statSync(full).mtimeMs > staleMs * 10) rmSync(full, { recursive: true, force: true });
    }
  } catch {
    // best effort
  }
}

export async function withLock<T>(path: string, fn: (signal: AbortSignal) => Promise<T>, options: number | LockOptions = {}): Promise<T> {
  const opts = typeof options === 'number' ? { timeoutMs: options } : options;
  const timeoutMs = opts.timeoutMs ?? 60_000;
  const heartbeatMs = opts.heartbeatMs ?? 2_000;
  const staleMs = opts.staleMs ?? heartbeatMs * 3;
  const deadline = Date.now() + timeoutMs;
  const token = `${process.pid}.${randomBytes(12).toString('hex')}`;
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });

  for (;;) {
    try {
      mkdirSync(path, { mode: 0o700 });
      try {
        writeFileSync(join(path, OWNER), token, { mode: 0o600 });
      } catch (err) {
        rmSync(path, { recursive: true, force: true });
        throw err;
      }
      break;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      // EEXIST: held; ENOTDIR/EEXIST also cover an old-style lock file, which ages out like a stale lock.
      if (code !== 'EEXIST' && code !== 'ENOTDIR') throw err;
      if (takeOverIfStale(path, staleMs)) continue;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${path}`);
      await new Promise((r) => setTimeout(r, 25 + Math.random() * 50));
    }
  }
  sweep(path, staleMs);

  const controller = new AbortController();
  let rejectCompromised!: (err: Error) => void;
  const compromised = new Promise<never>((_, reject) => (rejectCompromised = reject));
  compromised.catch(() => undefined);
  const stillOurs = () => readOwner(path) === token;
  const heartbeat = setInterval(() => {
    if (controller.signal.aborted) return;
    if (!stillOurs()) {
      const err = new LockCompromisedError(path);
      controller.abort(err);
      rejectCompromised(err);
      return;
    }
    try {
      const now = new Date();
      utimesSync(path, now, now);
    } catch {
      // checked again at the next beat
    }
  }, heartbeatMs);
  heartbeat.unref();

  try {
    const result = await Promise.race([fn(controller.signal), compromised]);
    if (!stillOurs()) throw new LockCompromisedError(path);
    return result;
  } finally {
    clearInterval(heartbeat);
    if (stillOurs()) {
      // Move it aside under our own token first, so a concurrent taker never sees a half-removed lock.
      const released = `${path}.released-${token.replace(/[^A-Za-z0-9]/g, '')}`;
      try {
        renameSync(path, released);
        rmSync(released, { recursive: true, force: true });
      } catch {
        // already gone
      }
    }
  }
}
