/**
 * @module
 * `-enable-tcp-queue` with `-max-tcp-listener-concurrency` and `-max-tcp-listener-queue`, as
 * Skipper's queue listener does it: at most `concurrency` connections of a listener are served at
 * once; the ones beyond wait, accepted but not read; when a served one closes, the newest waiting
 * one is served next (LIFO: under overload most clients still get a quick answer, the oldest wait
 * longest); when more than `queue` wait, the oldest waiting one is closed.
 *
 * ```ts
 * const admission = new Admission({ concurrency: 100, queue: 1000 });
 * open(socket)  { admission.admit(socket, () => serve(socket)); }
 * close(socket) { if (admission.release(socket)) cleanUp(socket); }
 * ```
 */

/** What waiting needs of a socket. */
export interface Waitable {
  pause(): void;
  resume(): void;
  terminate(): void;
}

export interface AdmissionOptions {
  /** connections served at once */
  readonly concurrency: number;
  /** connections waiting at most */
  readonly queue: number;
}

/** Skipper's default queue: ten times the concurrency. */
export const defaultQueue = (concurrency: number): number => 10 * concurrency;

export class Admission<S extends Waitable> {
  readonly #served = new WeakSet<S>();
  #serving = 0;
  readonly #waiting: { socket: S; start: () => void }[] = [];
  /** closed while waiting because the queue was full */
  dropped = 0;

  constructor(readonly options: AdmissionOptions) {}

  /** connections waiting now */
  get waiting(): number {
    return this.#waiting.length;
  }

  /** connections served now */
  get serving(): number {
    return this.#serving;
  }

  /** Serves `socket` (runs `start`) when a slot is free; otherwise it waits, paused. */
  admit(socket: S, start: () => void): void {
    if (this.#serving < this.options.concurrency) return this.#serve(socket, start);
    socket.pause();
    this.#waiting.push({ socket, start });
    if (this.#waiting.length > this.options.queue) {
      this.dropped++;
      this.#waiting.shift()!.socket.terminate();
    }
  }

  /**
   * `socket` closed. Returns whether it was being served (then its handlers have state to clean
   * up); a waiting one just leaves the queue. A freed slot goes to the newest waiting socket.
   */
  release(socket: S): boolean {
    if (!this.#served.has(socket)) {
      const at = this.#waiting.findIndex((w) => w.socket === socket);
      if (at >= 0) this.#waiting.splice(at, 1);
      return false;
    }
    this.#served.delete(socket);
    this.#serving--;
    while (this.#serving < this.options.concurrency && this.#waiting.length > 0) {
      const next = this.#waiting.pop()!;
      next.socket.resume();
      this.#serve(next.socket, next.start);
    }
    return true;
  }

  #serve(socket: S, start: () => void): void {
    this.#served.add(socket);
    this.#serving++;
    start();
  }
}
