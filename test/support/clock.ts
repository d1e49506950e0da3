/** @module A clock the test moves by hand: breakers, limiters and retries never wait for real time. */
import type { Clock } from "../../src/util/clock.ts";

export class FakeClock implements Clock {
  #now = 1_000_000;
  #sleepers: { until: number; resolve: () => void }[] = [];
  /** every sleep() asked for, in ms */
  readonly slept: number[] = [];

  /** `autoAdvance`: sleep() moves time forward by itself and resolves at once (for code that awaits it). */
  constructor(readonly autoAdvance = false) {}

  now(): number {
    return this.#now;
  }

  sleep(ms: number): Promise<void> {
    this.slept.push(ms);
    if (this.autoAdvance) {
      this.#now += ms;
      return Promise.resolve();
    }
    const { promise, resolve } = Promise.withResolvers<void>();
    this.#sleepers.push({ until: this.#now + ms, resolve });
    return promise;
  }

  advance(ms: number): void {
    this.#now += ms;
    const due = this.#sleepers.filter((s) => s.until <= this.#now);
    this.#sleepers = this.#sleepers.filter((s) => s.until > this.#now);
    for (const s of due) s.resolve();
  }
}
