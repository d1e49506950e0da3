/**
 * @module
 * A sliding-window limiter with a bucket per key (Skipper's rate-limit-buffer): a request passes
 * when fewer than `max` requests of its key passed in the last `window` ms. Exact, not an
 * estimate: each bucket keeps the times of the latest passed requests, at most `max` of them,
 * and grows only as far as its key uses it.
 *
 * Memory stays bounded: a bucket whose newest request is older than the window is equivalent to
 * an empty one and is dropped by a sweep (at most one per window, when a key is added), and the
 * number of keys is capped, evicting the oldest key when full. Client keys can come from
 * X-Forwarded-For, which any client can vary.
 */
import type { Clock } from "../util/clock.ts";

/** Skipper answers `max-hits=0` with a Retry-After of five years: retrying never helps. */
export const NEVER_MS = 5 * 365 * 24 * 3_600_000;

export const DEFAULT_MAX_KEYS = 100_000;

export interface Limiter {
  readonly max: number;
  /** ms */
  readonly window: number;
  /**
   * Takes a slot for `key`: 0 when the request may pass, else the ms until a slot frees. A promise
   * where the buckets live elsewhere (`-workers`: in the primary).
   */
  take(key: string): number | Promise<number>;
  /**
   * Gives back the newest slot of `key`: the request that took one never reached the backend
   * whole, through the client's doing (src/proxy/unsent.ts). The newest, not the request's own:
   * which one is not known under `-workers`, and the difference is only when a slot frees again,
   * sooner by at most how long the request lasted.
   */
  giveBack(key: string): void;
  /** How many requests of `key` are in the window now, taking nothing: what `/debug/explain` shows. */
  peek(key: string): number | Promise<number>;
}

/** Makes the limiter of one setting; `name` says which (`service 100 60000`), the same in every worker. */
export type LimiterFactory = (name: string, max: number, window: number) => Limiter;

/** The in-process limiter: buckets in this process's memory. */
export const localLimiters = (clock: Clock): LimiterFactory => (_name, max, window) => new SlidingWindowLimiter(max, window, clock);

/** Lets everything through; stands in where no limit is configured. */
export const NO_LIMIT: Limiter = Object.freeze({ max: Infinity, window: 0, take: () => 0, giveBack: () => {}, peek: () => 0 });

export class SlidingWindowLimiter implements Limiter {
  readonly #buckets = new Map<string, Bucket>();
  #lastSweep: number;

  constructor(
    readonly max: number,
    readonly window: number,
    readonly clock: Clock,
    readonly maxKeys = DEFAULT_MAX_KEYS,
  ) {
    this.#lastSweep = clock.now();
  }

  /** live buckets, for tests and metrics */
  get size(): number {
    return this.#buckets.size;
  }

  take(key: string): number {
    if (this.max <= 0) return NEVER_MS;
    const now = this.clock.now();
    let bucket = this.#buckets.get(key);
    if (!bucket) {
      this.#makeRoom(now);
      bucket = new Bucket();
      this.#buckets.set(key, bucket);
    }
    return bucket.take(now, this.max, this.window);
  }

  giveBack(key: string): void {
    this.#buckets.get(key)?.giveBack();
  }

  peek(key: string): number {
    return this.#buckets.get(key)?.inWindow(this.clock.now(), this.max, this.window) ?? 0;
  }

  #makeRoom(now: number): void {
    if (now - this.#lastSweep >= this.window) {
      this.#lastSweep = now;
      for (const [key, bucket] of this.#buckets) if (now - bucket.newest >= this.window) this.#buckets.delete(key);
    }
    // Map order is insertion order: the first key is the oldest one.
    if (this.#buckets.size >= this.maxKeys) this.#buckets.delete(this.#buckets.keys().next().value!);
  }
}

/** The pass times of one key, oldest first: a ring of up to `max`, whose oldest is at `head`. */
class Bucket {
  readonly times: number[] = [];
  head = 0;
  count = 0;
  newest = -Infinity;

  take(now: number, max: number, window: number): number {
    const { times } = this;
    if (this.count < max) {
      // Until the ring is full once, head is 0 and this appends.
      times[(this.head + this.count++) % max] = now;
    } else {
      const oldest = times[this.head]!;
      if (now - oldest < window) return oldest + window - now;
      times[this.head] = now;
      this.head = (this.head + 1) % max;
    }
    this.newest = now;
    return 0;
  }

  /** Pass times younger than the window. */
  inWindow(now: number, max: number, window: number): number {
    let n = 0;
    for (let i = 0; i < this.count; i++) if (now - this.times[(this.head + i) % max]! < window) n++;
    return n;
  }

  /** Drops the newest pass time; `newest` stays, so a sweep may keep the bucket a window longer. */
  giveBack(): void {
    if (this.count > 0) this.count--;
  }
}

/**
 * The headers of a rejection: `X-Rate-Limit`, the allowed requests per hour (Skipper's), and
 * `Retry-After`, whole seconds until a slot frees (rounded up, at least 1).
 */
export function rejectionHeaders(limiter: Limiter, retryMs: number): Record<string, string> {
  return {
    "x-rate-limit": String(Math.floor((limiter.max * 3_600_000) / limiter.window)),
    "retry-after": String(Math.max(1, Math.ceil(retryMs / 1000))),
  };
}
