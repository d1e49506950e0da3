/**
 * @module
 * The one fake clock: time moves only when a test says so. Breakers, limiters, retries, upstream
 * timeouts, route polling and the secrets refresher all take it, so no logic test sleeps.
 */
import { sleepOn, type Clock, type Timer } from "../../src/util/clock.ts";

interface Pending {
  readonly at: number;
  readonly callback: () => void | Promise<unknown>;
}

export class FakeClock implements Clock {
  #now: number;
  #nextId = 1;
  readonly #pending = new Map<number, Pending>();
  /** every sleep() asked for, in ms */
  readonly slept: number[] = [];

  /**
   * `autoAdvance`: sleep() moves time forward by itself and resolves at once (for code that
   * awaits backoff waits in a loop).
   */
  constructor(
    readonly autoAdvance = false,
    start = 1_000_000,
  ) {
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  setTimeout(callback: () => void | Promise<unknown>, ms: number): Timer {
    const id = this.#nextId++;
    this.#pending.set(id, { at: this.#now + Math.max(0, ms), callback });
    return { cancel: () => void this.#pending.delete(id) };
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    this.slept.push(ms);
    if (!this.autoAdvance) return sleepOn(this, ms, signal);
    if (signal?.aborted) return Promise.reject(signal.reason);
    this.#now += ms;
    return Promise.resolve();
  }

  /** how many timers are waiting */
  get pending(): number {
    return this.#pending.size;
  }

  /**
   * Moves time forward by `ms`, running each timer that falls due, in order. Callbacks run
   * synchronously; the returned promise also waits for the work each callback returned, so after
   * `await clock.advance(ms)` a tick's refresh or poll has finished.
   */
  async advance(ms: number): Promise<void> {
    const until = this.#now + ms;
    for (;;) {
      let due: [number, Pending] | undefined;
      for (const entry of this.#pending) if (entry[1].at <= until && (!due || entry[1].at < due[1].at)) due = entry;
      if (!due) break;
      this.#pending.delete(due[0]);
      this.#now = due[1].at;
      await due[1].callback();
    }
    this.#now = until;
  }
}
