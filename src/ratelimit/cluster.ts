/**
 * @module
 * Cluster limiters (Skipper's clusterRatelimit and clusterClientRatelimit): a sliding window kept
 * in Redis, one sorted set per group (and client), so every sallyport of a fleet counts into the
 * same budget. One script trims the set to the window, counts it and adds the request, atomically,
 * on the Redis server's clock (the fleet's clocks need not agree).
 *
 * When Redis cannot answer within `-swarm-redis-read-timeout` the request fails open: a local
 * limiter with the same settings decides, so each process still lets at most `max` per window
 * through. With `-cluster-ratelimit-fail-closed` it is refused instead: 503 `ratelimit-unavailable`.
 * Either way it is counted, and logged at most once per interval.
 */
import { ProxyError } from "../exchange/errors.ts";
import type { Clock } from "../util/clock.ts";
import { ShardFailure, type Swarm } from "../swarm/index.ts";
import type { Limiter } from "./limiter.ts";

/** KEYS[1] the set; ARGV window ms, max, member. Returns 0 when the request passes, else ms until a slot frees. */
export const SLIDING_WINDOW = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local window = tonumber(ARGV[1])
local max = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) < max then
  redis.call('ZADD', KEYS[1], now, ARGV[3])
  redis.call('PEXPIRE', KEYS[1], window)
  return 0
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return math.max(1, tonumber(oldest[2]) + window - now)
`;
const SCRIPT_SHA = new Bun.CryptoHasher("sha1").update(SLIDING_WINDOW).digest("hex");

/** KEYS[1] the set; ARGV window ms. How many requests are in the window, changing nothing. */
const IN_WINDOW = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
return redis.call('ZCOUNT', KEYS[1], '(' .. (now - tonumber(ARGV[1])), '+inf')
`;

/** What a fleet's limiters count when Redis does not answer. */
export class ClusterStats {
  failOpen = 0;
  failClosed = 0;
  #lastLog = -Infinity;
  #sinceLog = 0;

  constructor(
    readonly clock: Clock,
    readonly log: { warn(message: string): void },
    /** ms between two log lines about decisions made without Redis */
    readonly logInterval = 10_000,
  ) {}

  /** Counts one decision made without Redis; logs once per interval how many there were. */
  unavailable(failClosed: boolean, why: string): void {
    if (failClosed) this.failClosed++;
    else this.failOpen++;
    this.#sinceLog++;
    const now = this.clock.now();
    if (now - this.#lastLog < this.logInterval) return;
    const how = failClosed ? "refused with 503 (-cluster-ratelimit-fail-closed)" : "decided by the local limit (fail open)";
    this.log.warn(`cluster rate limits: Redis did not answer (${why}); ${this.#sinceLog} request(s) ${how} since the last such line`);
    this.#lastLog = now;
    this.#sinceLog = 0;
  }
}

export interface ClusterLimiterOptions {
  readonly swarm: Swarm;
  /** decides when Redis cannot: the fail-open limit */
  readonly fallback: Limiter;
  readonly failClosed: boolean;
  readonly stats: ClusterStats;
}

/** A request's place in a set: unique across the fleet. */
const PROCESS_TAG = crypto.randomUUID().slice(0, 8);
let taken = 0;

export const unavailable = (): ProxyError =>
  new ProxyError(503, "ratelimit-unavailable", "Service Unavailable: the cluster rate limit cannot be checked", { headers: { "retry-after": "1" } });

export class ClusterLimiter implements Limiter {
  constructor(
    /** the Redis key of the group; client keys are appended, hashed */
    readonly prefix: string,
    readonly perClient: boolean,
    readonly max: number,
    readonly window: number,
    readonly options: ClusterLimiterOptions,
  ) {}

  async take(key: string): Promise<number> {
    const redisKey = this.#redisKey(key);
    const shard = this.options.swarm.shardFor(redisKey);
    if (!shard) return this.#withoutRedis(key, "no shard can be used");
    const args = [String(this.window), String(this.max), `${PROCESS_TAG}:${++taken}`];
    try {
      const wait = await shard.call("EVALSHA", [SCRIPT_SHA, "1", redisKey, ...args]).catch((err: unknown) => {
        // The first call on a server, or after its restart: EVAL sends the script, which also caches it.
        if (/NOSCRIPT/.test(String((err as Error)?.message))) return shard.call("EVAL", [SLIDING_WINDOW, "1", redisKey, ...args]);
        throw err;
      });
      return Number(wait);
    } catch (err) {
      return this.#withoutRedis(key, err instanceof ShardFailure ? `${shard.address}: ${err.message}` : `${shard.address}: ${(err as Error)?.message ?? err}`);
    }
  }

  /** The requests in the key's window in Redis (the fallback's, when Redis is away). */
  async peek(key: string): Promise<number> {
    const redisKey = this.#redisKey(key);
    const shard = this.options.swarm.shardFor(redisKey);
    if (!shard) return this.options.fallback.peek(key);
    return Number(await shard.call("EVAL", [IN_WINDOW, "1", redisKey, String(this.window)]).catch(() => this.options.fallback.peek(key)));
  }

  /** Drops the key's newest request from its set (the fallback's, when Redis is away). */
  giveBack(key: string): void {
    const redisKey = this.#redisKey(key);
    const shard = this.options.swarm.shardFor(redisKey);
    if (!shard) return this.options.fallback.giveBack(key);
    shard.call("ZPOPMAX", [redisKey]).catch(() => this.options.fallback.giveBack(key));
  }

  #withoutRedis(key: string, why: string): number | Promise<number> {
    const { failClosed, stats, fallback } = this.options;
    stats.unavailable(failClosed, why);
    if (failClosed) throw unavailable();
    return fallback.take(key);
  }

  /** Client keys may be header values (a token): only their hash reaches Redis, where anyone with access could list them. */
  #redisKey(key: string): string {
    return this.perClient ? `${this.prefix}:${new Bun.CryptoHasher("sha256").update(key).digest("base64url").slice(0, 22)}` : this.prefix;
  }
}
