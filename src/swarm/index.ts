/**
 * @module
 * The swarm: the Redis shards every sallyport of a fleet shares, where cluster rate limits keep
 * their windows (Skipper's `-enable-swarm` with `-swarm-redis-urls`). Keys are spread over the
 * shards by consistent hashing (./ring.ts); a shard that fails is stepped over until it answers
 * again (./shard.ts). Opening connects nobody: a fleet starts while Redis is down, and the first
 * call connects.
 */
import { readFile } from "node:fs/promises";
import type { Clock } from "../util/clock.ts";
import { Ring } from "./ring.ts";
import type { ShardSettings } from "./settings.ts";
import { Shard, type FailureKind } from "./shard.ts";

export { ShardFailure } from "./shard.ts";
export type { Shard } from "./shard.ts";

export interface SwarmOptions {
  readonly shards: readonly ShardSettings[];
  /** file holding the password (-swarm-redis-password); "" for none */
  readonly passwordFile: string;
  /** PEM CA bundle for rediss:// shards (-swarm-redis-ca-file); "" for the system's */
  readonly caFile: string;
  readonly dialTimeout: number;
  readonly readTimeout: number;
  readonly clock: Clock;
  readonly log: { warn(message: string): void; info(message: string): void };
}

export class Swarm {
  readonly #ring: Ring<Shard>;
  #latency: (shard: string, seconds: number) => void = () => {};

  private constructor(shards: (swarm: Swarm) => Shard[]) {
    this.#ring = new Ring(shards(this));
  }

  /** Reads the password and CA files (a missing one stops the start); connects nobody yet. */
  static async open(options: SwarmOptions): Promise<Swarm> {
    const password = options.passwordFile ? (await readText(options.passwordFile, "-swarm-redis-password")).replace(/\r?\n$/, "") : undefined;
    const ca = options.caFile ? await readText(options.caFile, "-swarm-redis-ca-file") : undefined;
    const { log } = options;
    const onHealth = (shard: Shard, downBecause: string | undefined) => {
      if (downBecause === undefined) log.info(`swarm: redis ${shard.address} answers again`);
      else log.warn(`swarm: redis ${shard.address} is unavailable (${downBecause}); its keys go to the other shards, or cluster rate limits decide without Redis, until it answers`);
    };
    return new Swarm((swarm) => options.shards.map((settings) => new Shard(settings, { ...options, password, ca, onHealth, latency: (shard, seconds) => swarm.#latency(shard, seconds) })));
  }

  /** Where answered calls' latencies go (the metrics module's histogram); nowhere until set. */
  observeLatency(observe: (shard: string, seconds: number) => void): void {
    this.#latency = observe;
  }

  get shards(): readonly Shard[] {
    return this.#ring.shards;
  }

  /** The shard that keeps `key`, skipping failed ones; undefined when none can be used. */
  shardFor(key: string): Shard | undefined {
    return this.#ring.pick(key, (shard) => shard.usable);
  }

  /** Calls that failed, by shard and kind, for /metrics. */
  *failures(): Iterable<[shard: string, kind: FailureKind, count: number]> {
    for (const shard of this.shards) for (const [kind, count] of shard.failures) yield [shard.address, kind, count];
  }

  close(): void {
    for (const shard of this.shards) shard.close();
  }
}

async function readText(path: string, flag: string): Promise<string> {
  try {
    return await readFile(path, "utf8");
  } catch (err) {
    throw new Error(`${flag} ${path}: ${(err as NodeJS.ErrnoException).code === "ENOENT" ? "no such file" : (err as Error).message}`);
  }
}
