/**
 * @module
 * What workers and the primary say about shared state under `-workers`: the primary owns every
 * rate-limit bucket and every breaker, so a limit of L lets L through whichever worker a client
 * reaches, and a breaker opens on the failures all workers saw.
 *
 * Messages travel in batches over the IPC channel Bun.spawn opens, one batch per side per turn of
 * the event loop: `{ state: [message, …] }`. Each message is a short array, first its kind.
 */
import type { BreakerState } from "../circuit/breaker.ts";
import type { BreakerSettings } from "../circuit/settings.ts";

/** A worker's messages to the primary. */
export type ToPrimary =
  /** take a slot of limiter `name` for `key`; answered by `took` */
  | readonly ["take", id: number, name: string, max: number, window: number, key: string]
  /** how many requests of `key` limiter `name` has in its window; answered by `took` with the count */
  | readonly ["peek", id: number, name: string, key: string]
  /** give back the newest slot of limiter `name` for `key`; no answer */
  | readonly ["giveBack", name: string, key: string]
  /** the merged settings behind breaker key `key`, sent once before the key is first used */
  | readonly ["settings", key: string, settings: BreakerSettings]
  /** this worker holds a view of the breaker of `host` under `key`; answered by `changed` with its state now */
  | readonly ["watch", host: string, key: string]
  /** ask the breaker of `host` under `key` to admit a request; answered by `allowed` */
  | readonly ["allow", id: number, host: string, key: string]
  | readonly ["done", host: string, key: string, ticket: number, success: boolean]
  | readonly ["release", host: string, key: string, ticket: number];

/** The primary's messages to a worker. */
export type ToWorker =
  | readonly ["took", id: number, wait: number]
  | readonly ["allowed", id: number, ticket: number]
  /** to every worker, on every state change (and to a watcher): `openFor` ms until an open one turns half-open */
  | readonly ["changed", host: string, key: string, state: BreakerState, generation: number, openFor: number];

export interface StateBatch<M> {
  readonly state: readonly M[];
}

export const isStateBatch = <M>(message: unknown): message is StateBatch<M> =>
  typeof message === "object" && message !== null && Array.isArray((message as StateBatch<M>).state);

/**
 * Gathers messages and sends them as one batch on the next turn: many requests handled in one
 * turn cost one IPC write, not one each.
 */
export class Outbox<M> {
  #pending: M[] = [];

  constructor(
    readonly send: (batch: StateBatch<M>) => void,
    readonly nextTurn: () => Promise<void>,
  ) {}

  push(message: M): void {
    if (this.#pending.push(message) === 1) void this.nextTurn().then(() => this.flush());
  }

  flush(): void {
    if (this.#pending.length === 0) return;
    const state = this.#pending;
    this.#pending = [];
    this.send({ state });
  }
}
