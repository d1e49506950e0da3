/** @module Timers that only move when a test says so: no test sleeps through an interval. */
import type { Timers } from "../../src/secrets/index.ts";

interface Pending {
  readonly at: number;
  readonly callback: () => void | Promise<void>;
}

export class FakeTimers implements Timers {
  #now = 0;
  #nextId = 1;
  readonly #pending = new Map<number, Pending>();

  now(): number {
    return this.#now;
  }

  setTimeout(callback: () => void | Promise<void>, ms: number): number {
    const id = this.#nextId++;
    this.#pending.set(id, { at: this.#now + ms, callback });
    return id;
  }

  clearTimeout(handle: unknown): void {
    this.#pending.delete(handle as number);
  }

  /** how many timers are waiting */
  get pending(): number {
    return this.#pending.size;
  }

  /**
   * Moves the clock forward by `ms`, running each timer that falls due in order and waiting for
   * the work it returns, so a tick's refresh has finished when this resolves.
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
