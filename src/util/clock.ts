/**
 * @module
 * Time as breakers, limiters and retries see it. They take a {@link Clock} instead of reading
 * the system time, so tests move time by hand and never sleep.
 */

export interface Clock {
  /** monotonic milliseconds; only differences mean anything */
  now(): number;
  /** resolves after `ms` milliseconds */
  sleep(ms: number): Promise<void>;
}

export const systemClock: Clock = {
  now: () => performance.now(),
  sleep: (ms) => Bun.sleep(ms),
};
