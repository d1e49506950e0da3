/**
 * @module
 * A worker's side of shared state (src/workers/state-owner.ts holds it): limiters that ask the
 * primary for every slot, and breakers that mirror the primary's. The app takes them as the
 * factories of its limiter and breaker registries, so the filters and the proxy do not know.
 *
 * Should the primary go (its IPC channel closes, and the worker then drains), what was asked and
 * not answered is decided here: a slot by a limiter of this worker's own, a probe admitted.
 */
import { REFUSED, type BreakerState, type StateChange } from "../circuit/breaker.ts";
import type { BreakerFactory, LiveBreaker } from "../circuit/registry.ts";
import type { BreakerSettings } from "../circuit/settings.ts";
import { SlidingWindowLimiter, type Limiter, type LimiterFactory } from "../ratelimit/limiter.ts";
import type { Clock } from "../util/clock.ts";
import { Outbox, type StateBatch, type ToPrimary, type ToWorker } from "./state-protocol.ts";

export interface PrimaryStateOptions {
  readonly send: (batch: StateBatch<ToPrimary>) => void;
  readonly clock: Clock;
  readonly nextTurn: () => Promise<void>;
}

interface Pending {
  readonly resolve: (value: number) => void;
  /** the answer when the primary is gone */
  readonly fallback: () => number;
}

export class PrimaryState {
  readonly #outbox: Outbox<ToPrimary>;
  readonly #clock: Clock;
  readonly #pending = new Map<number, Pending>();
  #nextId = 0;
  /** breaker keys whose settings the primary has */
  readonly #sentSettings = new Set<string>();
  readonly #views = new Map<string, BreakerView>();
  /** once the primary is gone: this worker's own limiters, by name */
  #local: Map<string, SlidingWindowLimiter> | undefined;

  constructor(options: PrimaryStateOptions) {
    this.#outbox = new Outbox(options.send, options.nextTurn);
    this.#clock = options.clock;
  }

  /** For the limiter registry and the global limit: limiters whose buckets are the primary's. */
  readonly limiters: LimiterFactory = (name, max, window): Limiter => ({
    max,
    window,
    take: (key) => {
      if (this.#local) return this.#localLimiter(name, max, window).take(key);
      return this.ask((id) => ["take", id, name, max, window, key], () => this.#localLimiter(name, max, window).take(key));
    },
    giveBack: (key) => {
      if (this.#local) this.#localLimiter(name, max, window).giveBack(key);
      else this.tell(["giveBack", name, key]);
    },
    peek: (key) => this.ask((id) => ["peek", id, name, key], () => this.#localLimiter(name, max, window).peek(key)),
  });

  /** For the breaker registry: views of the primary's breakers. */
  readonly breakers: BreakerFactory = (host, settings, key, onStateChange) => {
    this.#sendSettings(key, settings);
    const view = new BreakerView(this, host, key, onStateChange, this.#clock);
    this.#views.set(viewKey(host, key), view);
    // Its state may be anything another worker made it: the primary says which.
    this.tell(["watch", host, key]);
    return view;
  };

  /** Handles one batch from the primary. */
  receive(batch: StateBatch<ToWorker>): void {
    for (const message of batch.state) {
      if (message[0] === "changed") {
        const [, host, key, state, generation, openFor] = message;
        this.#views.get(viewKey(host, key))?.changed(state, generation, openFor);
      } else {
        const pending = this.#pending.get(message[1]);
        this.#pending.delete(message[1]);
        pending?.resolve(message[2]);
      }
    }
  }

  /** The primary is gone: decide what it left unanswered, and everything from now on, here. */
  disconnected(): void {
    this.#local ??= new Map();
    for (const { resolve, fallback } of this.#pending.values()) resolve(fallback());
    this.#pending.clear();
  }

  /** Sends a message that expects an answer (`took`, `allowed`). */
  ask(message: (id: number) => ToPrimary, fallback: () => number): number | Promise<number> {
    if (this.#local) return fallback();
    const id = ++this.#nextId;
    return new Promise<number>((resolve) => {
      this.#pending.set(id, { resolve, fallback });
      this.#outbox.push(message(id));
    });
  }

  tell(message: ToPrimary): void {
    if (!this.#local) this.#outbox.push(message);
  }

  forget(view: BreakerView): void {
    const key = viewKey(view.host, view.key);
    if (this.#views.get(key) === view) this.#views.delete(key);
  }

  #sendSettings(key: string, settings: BreakerSettings): void {
    if (this.#sentSettings.has(key)) return;
    this.#sentSettings.add(key);
    this.tell(["settings", key, { ...settings }]);
  }

  #localLimiter(name: string, max: number, window: number): SlidingWindowLimiter {
    const local = (this.#local ??= new Map());
    let limiter = local.get(name);
    if (!limiter) local.set(name, (limiter = new SlidingWindowLimiter(max, window, this.#clock)));
    return limiter;
  }
}

const viewKey = (host: string, key: string): string => `${host}\n${key}`;

/**
 * A worker's view of one of the primary's breakers: closed admits with the generation it last
 * heard of, open refuses until its timeout ends, anything else asks the primary — half-open, and
 * a new view until the primary has said which state the breaker is in.
 */
class BreakerView implements LiveBreaker {
  #state: BreakerState | undefined;
  #generation = 0;
  #openUntil = 0;

  constructor(
    readonly shared: PrimaryState,
    readonly host: string,
    readonly key: string,
    readonly onStateChange: StateChange,
    readonly clock: Clock,
  ) {}

  get state(): BreakerState {
    return this.#state === "open" && this.clock.now() >= this.#openUntil ? "half-open" : (this.#state ?? "closed");
  }

  allow(): number | Promise<number> {
    if (this.#state === "closed") return this.#generation;
    if (this.#state === "open" && this.clock.now() < this.#openUntil) return REFUSED;
    return this.shared.ask((id) => ["allow", id, this.host, this.key], () => this.#generation);
  }

  done(ticket: number, success: boolean): void {
    this.shared.tell(["done", this.host, this.key, ticket, success]);
  }

  release(ticket: number): void {
    this.shared.tell(["release", this.host, this.key, ticket]);
  }

  changed(state: BreakerState, generation: number, openFor: number): void {
    const from = this.#state ?? "closed";
    this.#state = state;
    this.#generation = generation;
    this.#openUntil = this.clock.now() + openFor;
    if (from !== state) this.onStateChange(from, state);
  }

  dispose(): void {
    this.shared.forget(this);
  }
}
