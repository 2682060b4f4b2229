/** Injectable time source so tests can move time without sleeping. */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

export const seconds = (ms: number): number => Math.floor(ms / 1000);
