/** When a backend prunes: once at start and then hourly, never two runs at a time. */
export interface RetentionSchedule {
  /** Runs the backend's pruning now (joining a run in progress); a no-op without a retention. */
  prune(): Promise<void>;
  stop(): void;
}

const PRUNE_INTERVAL_MS = 3_600_000;

export function scheduleRetention(options: {
  retentionMs?: number;
  /** Removes what is older than `retentionMs`, after recording an `audit.pruned` anchor. */
  pruneOnce: (retentionMs: number) => Promise<void>;
  onError: (err: unknown) => void;
}): RetentionSchedule {
  const { retentionMs } = options;
  if (retentionMs === undefined) return { prune: async () => undefined, stop: () => undefined };
  let pruning: Promise<void> | undefined;
  const prune = () =>
    (pruning ??= options.pruneOnce(retentionMs).finally(() => {
      pruning = undefined;
    }));
  const run = () => prune().catch(options.onError);
  void run();
  const timer = setInterval(run, PRUNE_INTERVAL_MS);
  timer.unref();
  return { prune, stop: () => clearInterval(timer) };
}
