// The measuring loop shared by bench/saml-memory.ts (10,000 validations) and the short guard in
// test/integration/saml-memory.test.ts: the same signed SAML response validated over and over by
// the full ACS path (our checks, xmllint in a child process, samlify's second opinion, the replay
// cache), with memory read after a full GC before and after the measured run.
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { replayKey } from '../../src/connectors/saml/checks/replay.js';
import { startOfflineSp } from '../../test/helpers/gateways/saml-offline-sp.js';

/** A full GC, without needing `node --expose-gc` (the flag is set at run time, `gc` taken from a fresh context). */
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

export const MiB = 1024 * 1024;
export const mib = (bytes: number) => `${(bytes / MiB).toFixed(1)} MiB`;

/** Two full GCs and a short pause, so finalizers and freed pages settle before a reading. */
async function settledMemory(): Promise<NodeJS.MemoryUsage> {
  gc();
  await new Promise((resolve) => setTimeout(resolve, 100));
  gc();
  return process.memoryUsage();
}

export interface SamlMemoryRun {
  warmup: number;
  iterations: number;
  seconds: number;
  before: NodeJS.MemoryUsage;
  after: NodeJS.MemoryUsage;
  rssGrowth: number;
  heapGrowth: number;
  externalGrowth: number;
}

/**
 * Validates one response `warmup` times (JIT, caches, the schema memo), then `iterations` times
 * between two settled memory readings. The replay-cache entry is deleted after each validation so
 * the same assertion is accepted again. Throws if a validation fails.
 */
export async function measureSamlMemory(options: {
  warmup: number;
  iterations: number;
  connectorId?: string;
  progress?: (done: number) => void;
}): Promise<SamlMemoryRun> {
  const connectorId = options.connectorId ?? 'mem';
  const { idp, connector, store, close } = startOfflineSp(connectorId);
  try {
    const { encoded, assertionId } = await idp.response({
      spMetadata: connector.spMetadata(),
      inResponseTo: '_req-1',
      attributes: [
        ['uid', 'alice'],
        ['groups', ['a', 'b', 'c']],
      ],
      notOnOrAfter: 3_600_000,
    });
    const validate = async () => {
      const { identity } = await connector.finishLogin({
        callbackUrl: new URL(connector.acsUrl),
        state: '',
        pending: { requestId: '_req-1' },
        form: { SAMLResponse: encoded },
      });
      if (identity.username !== 'alice') throw new Error(`validation returned username ${JSON.stringify(identity.username)}, expected "alice"`);
      await store.delete(replayKey(connectorId, assertionId));
    };
    for (let i = 0; i < options.warmup; i++) await validate();
    const before = await settledMemory();
    const started = performance.now();
    for (let i = 0; i < options.iterations; i++) {
      await validate();
      if (options.progress && (i + 1) % 1000 === 0) options.progress(i + 1);
    }
    const seconds = (performance.now() - started) / 1000;
    const after = await settledMemory();
    return {
      warmup: options.warmup,
      iterations: options.iterations,
      seconds,
      before,
      after,
      rssGrowth: after.rss - before.rss,
      heapGrowth: after.heapUsed - before.heapUsed,
      externalGrowth: after.external - before.external,
    };
  } finally {
    await close();
  }
}

/** One line for logs and test diagnostics. */
export function describeRun(run: SamlMemoryRun): string {
  const { before, after } = run;
  return (
    `${run.iterations} validations (after ${run.warmup} warm-up) in ${run.seconds.toFixed(1)} s; ` +
    `RSS ${mib(before.rss)} → ${mib(after.rss)} (${mib(run.rssGrowth)}), heap ${mib(before.heapUsed)} → ${mib(after.heapUsed)} (${mib(run.heapGrowth)}), ` +
    `external ${mib(before.external)} → ${mib(after.external)} (${mib(run.externalGrowth)})`
  );
}
