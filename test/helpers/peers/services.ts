import { spawnSync } from 'node:child_process';
import { connect } from 'node:net';
import type { TestContext } from 'node:test';

/**
 * A test that needs a missing service or binary skips with the reason, except on CI
 * (CI=true), where the skip becomes a failure: a silent skip hides a broken install step.
 */
export function skipOrFail(t: TestContext, reason: string): void {
  if (process.env.CI === 'true') throw new Error(`required on CI but missing: ${reason}`);
  t.skip(reason);
}

// The test runner (scripts/run-tests.mjs) starts its own servers and sets these; the defaults are
// only for a file run by hand against servers of your own.
export const REDIS_URL = process.env.GATEHOUSE_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
export const MYSQL_URL = process.env.GATEHOUSE_TEST_MYSQL_URL ?? 'mysql://root@127.0.0.1:3306/';

export function tcpReachable(host: string, port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/** True when Redis answers; otherwise skips (or fails on CI). */
export async function requireRedis(t: TestContext): Promise<boolean> {
  const url = new URL(REDIS_URL);
  if (await tcpReachable(url.hostname, Number(url.port || 6379))) return true;
  skipOrFail(t, `Redis is not reachable at ${REDIS_URL}`);
  return false;
}

/** The first candidate that runs `versionArgs` successfully (within 10 s), or undefined. */
export function findBinary(candidates: string[], versionArgs: string[]): string | undefined {
  return candidates.find((candidate) => spawnSync(candidate, versionArgs, { timeout: 10_000 }).status === 0);
}

/** The path of a binary, or undefined after skipping (failing on CI). */
export function requireBinary(t: TestContext, name: string, candidates: string[] = []): string | undefined {
  for (const path of candidates) if (spawnSync(path, ['--version']).status !== null) return path;
  const which = spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' });
  if (which.status === 0) return which.stdout.trim();
  skipOrFail(t, `${name} is not installed`);
  return undefined;
}

/** A TCP port nothing listens on (bound then released). */
export async function closedPort(): Promise<number> {
  const { createServer } = await import('node:net');
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}
