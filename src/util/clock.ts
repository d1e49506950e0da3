/**
 * @module
 * The one clock. Every timer in sallyport (upstream timeouts, the request-body deadline, backoff
 * waits, route polling, the secrets refresher, the drain deadline) goes through a {@link Clock}
 * passed in, never the global `setTimeout`, so a test moves time by hand and never sleeps.
 *
 * ```ts
 * const timer = clock.setTimeout(() => abort.abort(), 5_000);
 * timer.cancel();                       // idempotent
 * await clock.sleep(100, signal);       // an aborted signal ends the wait early (rejects)
 * ```
 */

/** A pending timer; cancel() is idempotent and harmless after it fired. */
export interface Timer {
  cancel(): void;
}

export interface Clock {
  /** monotonic milliseconds; only differences mean anything */
  now(): number;
  /**
   * Runs `callback` once after `ms`. The callback may return the promise of the work it started,
   * so a fake clock can wait for it before moving on.
   */
  setTimeout(callback: () => void | Promise<unknown>, ms: number): Timer;
  /** Resolves after `ms`; rejects with the signal's reason as soon as `signal` aborts. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

/** A timer that was never started: what code holds when there is nothing to time. */
export const NO_TIMER: Timer = Object.freeze({ cancel() {} });

/** Real time. (Timers are not unref'd: `unref()` cost a fifth of the proxy's throughput.) */
export const systemClock: Clock = {
  now: () => performance.now(),
  setTimeout: (callback, ms) => new SystemTimer(setTimeout(callback, ms)),
  sleep: (ms, signal) => sleepOn(systemClock, ms, signal),
};

class SystemTimer implements Timer {
  constructor(readonly handle: ReturnType<typeof setTimeout>) {}
  cancel(): void {
    clearTimeout(this.handle);
  }
}

/** `sleep` built from a clock's setTimeout, shared by the real clock and test fakes. */
export function sleepOn(clock: Pick<Clock, "setTimeout">, ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return Promise.reject(signal.reason);
  const { promise, resolve, reject } = Promise.withResolvers<void>();
  const onAbort = () => {
    timer.cancel();
    reject(signal!.reason);
  };
  const timer = clock.setTimeout(() => {
    signal?.removeEventListener("abort", onAbort);
    resolve();
  }, ms);
  signal?.addEventListener("abort", onAbort, { once: true });
  return promise;
}

/**
 * Resolves on the next turn of the event loop, after pending I/O: a macrotask, where a resolved
 * promise would run before any I/O. Not a timer, so it does not go through a clock.
 */
export const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
