/**
 * @module
 * Limiters shared by routes: every route with the same ratelimit settings counts into the same
 * limiter (Skipper's ratelimit registry), and a limiter outlives route reloads as long as some
 * route still uses it. Routes take a reference when their filter is created and give it back
 * when the filter is closed; the last one out drops the limiter and its buckets.
 */
import type { Clock } from "../util/clock.ts";
import { SlidingWindowLimiter, type Limiter } from "./limiter.ts";

interface Shared {
  readonly limiter: SlidingWindowLimiter;
  refs: number;
}

export class LimiterRegistry {
  readonly #shared = new Map<string, Shared>();

  constructor(readonly clock: Clock) {}

  /** live limiters, for tests and metrics */
  get size(): number {
    return this.#shared.size;
  }

  /** The limiter for these settings; `kind` separates e.g. per-client from per-route buckets. */
  acquire(kind: string, max: number, window: number): Limiter {
    const key = `${kind} ${max} ${window}`;
    let shared = this.#shared.get(key);
    if (!shared) this.#shared.set(key, (shared = { limiter: new SlidingWindowLimiter(max, window, this.clock), refs: 0 }));
    shared.refs++;
    return shared.limiter;
  }

  release(kind: string, max: number, window: number): void {
    const key = `${kind} ${max} ${window}`;
    const shared = this.#shared.get(key);
    if (shared && --shared.refs <= 0) this.#shared.delete(key);
  }
}
