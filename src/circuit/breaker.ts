/**
 * @module
 * One circuit breaker, with the semantics of sony/gobreaker's TwoStepCircuitBreaker that
 * Skipper wraps:
 *
 * - closed: every request goes out; a failure that makes the trip rule true opens it
 *   (consecutive: `consecutive failures >= failures`; rate: `failures in the last window
 *   outcomes >= failures`). Counts are never cleared on a timer while closed.
 * - open: nothing goes out for `timeout` (0 → 60 s), then half-open.
 * - half-open: admits `halfOpenRequests` (0 → 1) requests in total, not concurrently; that many
 *   successes in a row close it, any failure opens it again.
 *
 * Counts are cleared on every state change, and an outcome reported for an admission made in an
 * earlier state ("generation") is ignored. The rate breaker's window is the exception, as in
 * Skipper: it is created on first use and never cleared, so old failures outlive a recovery.
 *
 * Two steps instead of a callback: {@link Breaker.allow} returns a ticket, {@link Breaker.done}
 * takes it back with the outcome. Numbers, not closures, so a request allocates nothing here.
 */
import type { Clock } from "../util/clock.ts";
import type { BreakerSettings } from "./settings.ts";

export type BreakerState = "closed" | "open" | "half-open";

/** allow() refused: open, or half-open with its probes used up. */
export const REFUSED = -1;

export interface Breaker {
  /**
   * A ticket (≥ 0) for one request that may go out, or {@link REFUSED}. A promise of one where the
   * state lives elsewhere and must be asked (`-workers`: a half-open breaker's probes).
   */
  allow(): number | Promise<number>;
  /** Reports the outcome of the request `ticket` was issued for. Call exactly once per ticket. */
  done(ticket: number, success: boolean): void;
  /**
   * Gives a ticket back without an outcome: the request failed for a reason that says nothing
   * about the backend (the client's fault). Instead of {@link done}, never as well.
   */
  release(ticket: number): void;
}

/** The breaker of a backend without breaker settings: always lets requests through. */
export const NO_BREAKER: Breaker = Object.freeze({ allow: () => 0, done: () => {}, release: () => {} });

export type StateChange = (from: BreakerState, to: BreakerState) => void;

const DEFAULT_TIMEOUT = 60_000;

export class CircuitBreaker implements Breaker {
  #state: BreakerState = "closed";
  #generation = 0;
  /** when open: the time it turns half-open */
  #openUntil = 0;
  #requests = 0;
  #consecutiveSuccesses = 0;
  #consecutiveFailures = 0;
  readonly #timeout: number;
  readonly #maxProbes: number;
  readonly #window: FailureWindow | undefined;

  constructor(
    readonly settings: BreakerSettings,
    readonly clock: Clock,
    readonly onStateChange: StateChange = () => {},
  ) {
    this.#timeout = settings.timeout || DEFAULT_TIMEOUT;
    this.#maxProbes = settings.halfOpenRequests || 1;
    this.#window = settings.type === "rate" ? new FailureWindow(settings.window) : undefined;
  }

  /** The state now (an open breaker whose timeout passed reads as half-open). */
  get state(): BreakerState {
    this.#advance();
    return this.#state;
  }

  /** Counted up on every state change: a ticket is the generation it was issued in. */
  get generation(): number {
    return this.#generation;
  }

  /** ms until an open breaker turns half-open; 0 when it is not open. */
  get openFor(): number {
    return this.#state === "open" ? Math.max(0, this.#openUntil - this.clock.now()) : 0;
  }

  allow(): number {
    this.#advance();
    if (this.#state === "open") return REFUSED;
    if (this.#state === "half-open" && this.#requests >= this.#maxProbes) return REFUSED;
    this.#requests++;
    return this.#generation;
  }

  done(ticket: number, success: boolean): void {
    // Skipper's rate breaker samples every admitted outcome, whatever the generation.
    this.#window?.add(!success);
    this.#advance();
    if (ticket !== this.#generation) return;
    if (success) this.#success();
    else this.#failure();
  }

  release(ticket: number): void {
    this.#advance();
    // Only a half-open breaker counts admissions; the probe slot is free again.
    if (ticket === this.#generation && this.#state === "half-open" && this.#requests > 0) this.#requests--;
  }

  #success(): void {
    this.#consecutiveSuccesses++;
    this.#consecutiveFailures = 0;
    if (this.#state === "half-open" && this.#consecutiveSuccesses >= this.#maxProbes) this.#setState("closed");
  }

  #failure(): void {
    this.#consecutiveFailures++;
    this.#consecutiveSuccesses = 0;
    if (this.#state === "half-open" || this.#readyToTrip()) this.#setState("open");
  }

  #readyToTrip(): boolean {
    const { failures } = this.settings;
    return this.#window ? this.#window.failures >= failures : this.#consecutiveFailures >= failures;
  }

  #advance(): void {
    if (this.#state === "open" && this.clock.now() >= this.#openUntil) this.#setState("half-open");
  }

  #setState(to: BreakerState): void {
    const from = this.#state;
    this.#state = to;
    this.#generation++;
    this.#requests = this.#consecutiveSuccesses = this.#consecutiveFailures = 0;
    if (to === "open") this.#openUntil = this.clock.now() + this.#timeout;
    this.onStateChange(from, to);
  }
}

/**
 * The rate breaker's sliding window: the last `size` outcomes (0 → 1), as a ring of bytes with a
 * running failure count. Count-based, not time-based, as Skipper's binarySampler.
 */
export class FailureWindow {
  readonly #ring: Uint8Array;
  #next = 0;
  failures = 0;

  constructor(size: number) {
    this.#ring = new Uint8Array(Math.max(1, size));
  }

  add(failed: boolean): void {
    const bit = failed ? 1 : 0;
    this.failures += bit - this.#ring[this.#next]!;
    this.#ring[this.#next] = bit;
    this.#next = (this.#next + 1) % this.#ring.length;
  }
}
