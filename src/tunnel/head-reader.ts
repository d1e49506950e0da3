/**
 * @module
 * Collects a connection's first bytes until its request head is complete, refused, or late:
 * the forward port decides nothing before it has the whole head, and gives a client at most
 * `timeout` ms (`-forward-head-timeout`, 10 s by default) and 64 KiB to send it — a slowloris
 * client cannot hold a socket longer or make the proxy buffer more.
 */
import type { Clock, Timer } from "../util/clock.ts";
import { MAX_HEAD_BYTES, parseHead, type HeadResult } from "./head.ts";

/** How a head read ended; `bytes` is everything received so far (the head and what followed it). */
export type HeadOutcome = (Exclude<HeadResult, { kind: "incomplete" }> | { readonly kind: "timeout" }) & { readonly bytes: Uint8Array };

export interface HeadReaderOptions {
  readonly clock: Clock;
  /** ms the whole head may take */
  readonly timeout: number;
  readonly limit?: number;
  /** called once */
  readonly done: (outcome: HeadOutcome) => void;
}

export class HeadReader {
  #buffer: Uint8Array = new Uint8Array(0);
  #timer: Timer;
  #finished = false;

  constructor(readonly options: HeadReaderOptions) {
    this.#timer = options.clock.setTimeout(() => this.#finish({ kind: "timeout" }), options.timeout);
  }

  /** Feed it the socket's data until it has called `done`; later data is ignored. */
  push(chunk: Uint8Array): void {
    if (this.#finished) return;
    this.#buffer = concat(this.#buffer, chunk);
    const result = parseHead(this.#buffer, this.options.limit ?? MAX_HEAD_BYTES);
    if (result.kind !== "incomplete") this.#finish(result);
  }

  /** The client went away first: stop the timer, call nothing. */
  cancel(): void {
    this.#finished = true;
    this.#timer.cancel();
  }

  #finish(result: Exclude<HeadResult, { kind: "incomplete" }> | { kind: "timeout" }): void {
    if (this.#finished) return;
    this.#finished = true;
    this.#timer.cancel();
    this.options.done({ ...result, bytes: this.#buffer });
  }
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  if (a.length === 0) return b.slice();
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}
