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
import { localLimiters, type Limiter, type LimiterFactory } from "./limiter.ts";

interface Shared {
  /** what routes get: the limiter, counting its rejections */
  readonly counted: Limiter;
  refs: number;
}

export class LimiterRegistry {
  readonly #shared = new Map<string, Shared>();
  readonly #rejections = new Map<string, number>();

  readonly #create: LimiterFactory;

  /** `create` makes each limiter: in-process buckets unless told otherwise (`-workers`). */
  constructor(clock: Clock, create: LimiterFactory = localLimiters(clock)) {
    this.#create = create;
  }

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
    if (!shared) this.#shared.set(key, (shared = this.#counted(key, kind, max, window)));
    shared.refs++;
    return shared.counted;
  }

  #counted(name: string, kind: string, max: number, window: number): Shared {
    const limiter = this.#create(name, max, window);
    const label = kind.split(" ", 1)[0]!;
    const rejections = this.#rejections;
    const count = (wait: number) => {
      if (wait > 0) rejections.set(label, (rejections.get(label) ?? 0) + 1);
      return wait;
    };
    const take = (key: string) => {
      const wait = limiter.take(key);
      return typeof wait === "number" ? count(wait) : wait.then(count);
    };
    return { counted: { max, window, take, giveBack: (key) => limiter.giveBack(key) }, refs: 0 };
  }

  release(kind: string, max: number, window: number): void {
    const key = `${kind} ${max} ${window}`;
    const shared = this.#shared.get(key);
    if (shared && --shared.refs <= 0) this.#shared.delete(key);
  }
}
