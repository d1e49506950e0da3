/**
 * @module
 * Limiters shared by routes: every route with the same ratelimit settings counts into the same
 * limiter (Skipper's ratelimit registry), and a limiter outlives route reloads as long as some
 * route still uses it. Routes take a reference when their filter is created and give it back
 * when the filter is closed; the last one out drops the limiter and its buckets.
 *
 * Rejections are counted here, by kind (`service` for ratelimit, `client` for clientRatelimit),
 * so /metrics keeps them across reloads that drop a limiter.
 */
import type { Clock } from "../util/clock.ts";
import { SlidingWindowLimiter, type Limiter } from "./limiter.ts";

interface Shared {
  readonly limiter: SlidingWindowLimiter;
  /** what routes get: the limiter, counting its rejections */
  readonly counted: Limiter;
  refs: number;
}

export class LimiterRegistry {
  readonly #shared = new Map<string, Shared>();
  readonly #rejections = new Map<string, number>();

  constructor(readonly clock: Clock) {}

  /** live limiters, for tests and metrics */
  get size(): number {
    return this.#shared.size;
  }

  /** Requests refused so far, by the first word of the kind (`service`, `client`), for metrics. */
  get rejections(): ReadonlyMap<string, number> {
    return this.#rejections;
  }

  /** The limiter for these settings; `kind` separates e.g. per-client from per-route buckets. */
  acquire(kind: string, max: number, window: number): Limiter {
    const key = `${kind} ${max} ${window}`;
    let shared = this.#shared.get(key);
    if (!shared) this.#shared.set(key, (shared = this.#create(kind, max, window)));
    shared.refs++;
    return shared.counted;
  }

  #create(kind: string, max: number, window: number): Shared {
    const limiter = new SlidingWindowLimiter(max, window, this.clock);
    const label = kind.split(" ", 1)[0]!;
    const rejections = this.#rejections;
    const take = (key: string) => {
      const wait = limiter.take(key);
      if (wait > 0) rejections.set(label, (rejections.get(label) ?? 0) + 1);
      return wait;
    };
    return { limiter, counted: { max, window, take }, refs: 0 };
  }

  release(kind: string, max: number, window: number): void {
    const key = `${kind} ${max} ${window}`;
    const shared = this.#shared.get(key);
    if (shared && --shared.refs <= 0) this.#shared.delete(key);
  }
}
