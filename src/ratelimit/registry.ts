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

/** A group's limit kept by the swarm (./cluster.ts); `fallback` decides when Redis cannot. */
export interface ClusterScope {
  readonly group: string;
  readonly perClient: boolean;
}
export type ClusterLimiterFactory = (scope: ClusterScope, max: number, window: number, fallback: Limiter) => Limiter;

interface Shared {
  /** what routes get: the limiter, counting its rejections */
  readonly counted: Limiter;
  refs: number;
}

export class LimiterRegistry {
  readonly #shared = new Map<string, Shared>();
  readonly #rejections = new Map<string, number>();

  readonly #create: LimiterFactory;
  readonly #cluster: ClusterLimiterFactory | undefined;

  /**
   * `create` makes each limiter: in-process buckets unless told otherwise (`-workers`);
   * `cluster` the cluster limiters, with `-enable-swarm` only.
   */
  constructor(clock: Clock, create: LimiterFactory = localLimiters(clock), cluster?: ClusterLimiterFactory) {
    this.#create = create;
    this.#cluster = cluster;
  }

  /** Whether cluster limiters can be made: `-enable-swarm` with its Redis shards. */
  get clustered(): boolean {
    return this.#cluster !== undefined;
  }

  /** live limiters, for tests and metrics */
  get size(): number {
    return this.#shared.size;
  }

  /** Requests refused so far, by the first word of the kind (`service`, `client`), for metrics. */
  get rejections(): ReadonlyMap<string, number> {
    return this.#rejections;
  }

  /**
   * The limiter for these settings; `kind` separates e.g. per-client from per-route buckets. With
   * `cluster` the buckets are the swarm's, and a local limiter of the same settings stands in
   * when Redis cannot answer.
   */
  acquire(kind: string, max: number, window: number, cluster?: ClusterScope): Limiter {
    const key = `${kind} ${max} ${window}`;
    let shared = this.#shared.get(key);
    if (!shared) this.#shared.set(key, (shared = this.#counted(key, kind, max, window, cluster)));
    shared.refs++;
    return shared.counted;
  }

  #counted(name: string, kind: string, max: number, window: number, cluster: ClusterScope | undefined): Shared {
    const local = this.#create(name, max, window);
    if (cluster && !this.#cluster) throw new Error("cluster limiters need -enable-swarm");
    const limiter = cluster ? this.#cluster!(cluster, max, window, local) : local;
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
    return { counted: { max, window, take, giveBack: (key) => limiter.giveBack(key), peek: (key) => limiter.peek(key) }, refs: 0 };
  }

  /** The live limiter named `name` (`kind max window`), without taking a reference; undefined when no route uses it. */
  find(name: string): Limiter | undefined {
    return this.#shared.get(name)?.counted;
  }

  release(kind: string, max: number, window: number): void {
    const key = `${kind} ${max} ${window}`;
    const shared = this.#shared.get(key);
    if (shared && --shared.refs <= 0) this.#shared.delete(key);
  }
}
