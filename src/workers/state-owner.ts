/**
 * @module
 * The primary's side of shared state: it holds the one copy of every rate-limit bucket and every
 * circuit breaker, serves its own requests from them directly and answers the other workers
 * (src/workers/state-protocol.ts).
 *
 * - Rate limits are exact: every take is decided here, in arrival order, on the primary's clock.
 * - Breakers run here as they run in one process (src/circuit), so the log line of a state change
 *   is written once, by the primary, and /metrics reads the breakers from here. Workers keep a
 *   view of each breaker's state: a closed one admits without asking, an open one refuses without
 *   asking until its timeout ends, and only the probes of a half-open one are asked for here, so
 *   that the number of probes stays exact. Outcomes are reported as they come, batched. Between a
 *   trip here and the news reaching a worker, the worker admits what it admits anyway: a request
 *   in flight when a breaker opens.
 */
import { CircuitBreaker, NO_BREAKER, type Breaker } from "../circuit/breaker.ts";
import { BreakerRegistry } from "../circuit/registry.ts";
import { breakerSettings, type BreakerSettings } from "../circuit/settings.ts";
import { SlidingWindowLimiter, type LimiterFactory } from "../ratelimit/limiter.ts";
import type { Clock } from "../util/clock.ts";
import { Outbox, type StateBatch, type ToPrimary, type ToWorker } from "./state-protocol.ts";

/** A limiter nobody took from for this long (and longer than its window) is dropped. */
const LIMITER_IDLE_MS = 60_000;

export interface StateOwnerOptions {
  readonly clock: Clock;
  /** the `-breaker` entries */
  readonly breakers: readonly BreakerSettings[];
  readonly log: (message: string) => void;
  readonly nextTurn: () => Promise<void>;
}

interface Limit {
  readonly limiter: SlidingWindowLimiter;
  lastUsed: number;
}

export class StateOwner {
  /** the breakers of every worker, as one process would hold them (metrics read them) */
  readonly breakers: BreakerRegistry;
  readonly #clock: Clock;
  readonly #nextTurn: () => Promise<void>;
  readonly #limits = new Map<string, Limit>();
  #lastSweep: number;
  /** merged settings by key, as workers sent them */
  readonly #settings = new Map<string, BreakerSettings>();
  readonly #outboxes = new Map<number, Outbox<ToWorker>>();

  constructor(options: StateOwnerOptions) {
    this.#clock = options.clock;
    this.#nextTurn = options.nextTurn;
    this.#lastSweep = options.clock.now();
    this.breakers = new BreakerRegistry({ entries: options.breakers, clock: options.clock, log: options.log });
    this.breakers.onTransition((host, _from, to, key, breaker) => {
      const { generation, openFor } = breaker as CircuitBreaker;
      for (const outbox of this.#outboxes.values()) outbox.push(["changed", host, key, to, generation, openFor]);
    });
  }

  /** For the primary's own app: limiters on these buckets, answering at once. */
  readonly limiters: LimiterFactory = (name, max, window) => ({
    max,
    window,
    take: (key) => this.#limiter(name, max, window).take(key),
    giveBack: (key) => this.#giveBack(name, key),
    peek: (key) => this.#limits.get(name)?.limiter.peek(key) ?? 0,
  });

  /** Worker `number` is (again) at the other end of `send`. */
  attach(number: number, send: (batch: StateBatch<ToWorker>) => void): void {
    const guarded = (batch: StateBatch<ToWorker>) => {
      try {
        send(batch);
      } catch {
        // The worker is gone; its replacement attaches afresh.
      }
    };
    this.#outboxes.set(number, new Outbox(guarded, this.#nextTurn));
  }

  detach(number: number): void {
    this.#outboxes.delete(number);
  }

  /** Handles one batch from worker `number`; answers go out on the next turn. */
  receive(number: number, batch: StateBatch<ToPrimary>): void {
    const outbox = this.#outboxes.get(number);
    for (const message of batch.state) {
      switch (message[0]) {
        case "take": {
          const [, id, name, max, window, key] = message;
          outbox?.push(["took", id, this.#limiter(name, max, window).take(key)]);
          break;
        }
        case "peek": {
          const [, id, name, key] = message;
          outbox?.push(["took", id, this.#limits.get(name)?.limiter.peek(key) ?? 0]);
          break;
        }
        case "giveBack":
          this.#giveBack(message[1], message[2]);
          break;
        case "settings":
          this.#settings.set(message[1], breakerSettings(message[2]));
          break;
        case "watch": {
          const [, host, key] = message;
          const breaker = this.#breaker(host, key);
          if (breaker instanceof CircuitBreaker) outbox?.push(["changed", host, key, breaker.state, breaker.generation, breaker.openFor]);
          break;
        }
        case "allow": {
          const [, id, host, key] = message;
          outbox?.push(["allowed", id, this.#breaker(host, key).allow() as number]);
          break;
        }
        case "done":
          this.#breaker(message[1], message[2]).done(message[3], message[4]);
          break;
        case "release":
          this.#breaker(message[1], message[2]).release(message[3]);
          break;
      }
    }
  }

  /** The breaker a worker means; settings always come first, so an unknown key is never seen. */
  #breaker(host: string, key: string): Breaker {
    const settings = this.#settings.get(key);
    return settings ? this.breakers.get(host, settings) : NO_BREAKER;
  }

  /** A limiter dropped since the take has no slot left to give back. */
  #giveBack(name: string, key: string): void {
    this.#limits.get(name)?.limiter.giveBack(key);
  }

  #limiter(name: string, max: number, window: number): SlidingWindowLimiter {
    const now = this.#clock.now();
    let limit = this.#limits.get(name);
    if (!limit) {
      this.#sweep(now);
      this.#limits.set(name, (limit = { limiter: new SlidingWindowLimiter(max, window, this.#clock), lastUsed: now }));
    }
    limit.lastUsed = now;
    return limit.limiter;
  }

  /** Drops limiters of settings no route uses any more (routes reloaded), at most once a minute. */
  #sweep(now: number): void {
    if (now - this.#lastSweep < LIMITER_IDLE_MS) return;
    this.#lastSweep = now;
    for (const [name, { limiter, lastUsed }] of this.#limits) {
      if (now - lastUsed > Math.max(LIMITER_IDLE_MS, limiter.window)) this.#limits.delete(name);
    }
  }
}
