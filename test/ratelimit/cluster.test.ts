/**
 * Cluster limiters on a real redis-server, in process: two swarms stand for two sallyports of a
 * fleet (each has its own connections). Time is the fake clock's wherever the proxy keeps it (the
 * read deadline, the second a failed shard is skipped); the window itself runs on the Redis
 * server's clock, so tests that need a slot to free use a short window and wait for it.
 */
import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import type { RequestState } from "../../src/exchange/state.ts";
import { Unsent } from "../../src/exchange/unsent.ts";
import { createRequestLimit } from "../../src/ratelimit/global.ts";
import { ProxyError } from "../../src/exchange/errors.ts";
import { ClusterLimiter, ClusterStats } from "../../src/ratelimit/cluster.ts";
import { SlidingWindowLimiter, type Limiter } from "../../src/ratelimit/limiter.ts";
import { DOWN_MS, Shard, ShardFailure } from "../../src/swarm/shard.ts";
import { Swarm } from "../../src/swarm/index.ts";
import { parseShard, type ShardSettings } from "../../src/swarm/settings.ts";
import { FakeClock } from "../support/clock.ts";
import { startRedis, type RunningRedis } from "../support/redis.ts";

let redis: RunningRedis;
const swarms: Swarm[] = [];
const NO_REDIS = Bun.which("redis-server") === null;
if (NO_REDIS) console.warn("skipped: redis-server is not installed (Debian package redis-server; .ci/run installs it)");

beforeAll(async () => {
  if (!NO_REDIS) redis = await startRedis();
});
afterAll(async () => {
  await redis?.stop();
});
afterEach(async () => {
  for (const swarm of swarms.splice(0)) swarm.close();
  if (redis && !redis.running) await redis.restart();
});

const shardOf = (address: string): ShardSettings => {
  const parsed = parseShard(address);
  if (!("value" in parsed)) throw new Error(parsed.error);
  return parsed.value;
};

const warnings: string[] = [];
const log = { warn: (m: string) => void warnings.push(m), info: (m: string) => void warnings.push(m) };

/** One sallyport's view: its own connections, clock and fallback limiter. */
async function member(options: { failClosed?: boolean; clock?: FakeClock; readTimeout?: number } = {}) {
  const clock = options.clock ?? new FakeClock();
  const swarm = await Swarm.open({ shards: [shardOf(redis.address)], passwordFile: "", caFile: "", dialTimeout: 1000, readTimeout: options.readTimeout ?? 1000, clock, log });
  swarms.push(swarm);
  const stats = new ClusterStats(clock, log);
  const limiter = (group: string, max: number, window: number, perClient = false, fallback: Limiter = new SlidingWindowLimiter(max, window, clock)) =>
    new ClusterLimiter(`sallyport:rl:${group}`, perClient, max, window, { swarm, fallback, failClosed: options.failClosed ?? false, stats });
  return { clock, swarm, stats, limiter };
}

describe.skipIf(NO_REDIS)("one budget for the fleet", () => {
  test("two members share a group's max: it passes between them, then each is told how long until the oldest leaves the window", async () => {
    const [a, b] = [await member(), await member()];
    const [la, lb] = [a.limiter("shared", 3, 60_000), b.limiter("shared", 3, 60_000)];
    const waits = [await la.take("s"), await lb.take("s"), await la.take("s"), await lb.take("s"), await la.take("s")];
    expect(waits.slice(0, 3)).toEqual([0, 0, 0]);
    for (const wait of waits.slice(3)) expect(wait).toBeGreaterThan(59_000);
    for (const wait of waits.slice(3)) expect(wait).toBeLessThanOrEqual(60_000);
    expect(await redis.keys("sallyport:rl:shared*")).toEqual(["sallyport:rl:shared"]);
  });

  test("the window slides on the server's clock: a slot frees when the oldest request is older than the window", async () => {
    const { limiter } = await member();
    const l = limiter("sliding", 2, 300);
    expect([await l.take("s"), await l.take("s")]).toEqual([0, 0]);
    const wait = await l.take("s");
    expect(wait).toBeGreaterThan(0);
    await Bun.sleep(wait + 20);
    expect(await l.take("s")).toBe(0);
  });

  test("groups are budgets of their own; the set expires with its window", async () => {
    const { limiter } = await member();
    const [one, other] = [limiter("one", 1, 60_000), limiter("other", 1, 60_000)];
    expect([await one.take("s"), await other.take("s")]).toEqual([0, 0]);
    expect(await one.take("s")).toBeGreaterThan(0);
    const ttl = Number(await redis.cli("PTTL", "sallyport:rl:one"));
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(60_000);
  });

  test("per client: each key its own budget, and only a hash of it reaches Redis (a key may be a token)", async () => {
    const { limiter } = await member();
    const l = limiter("clients", 1, 60_000, true);
    expect([await l.take("Bearer s3cr3t-token"), await l.take("10.0.0.2")]).toEqual([0, 0]);
    expect(await l.take("Bearer s3cr3t-token")).toBeGreaterThan(0);
    const keys = await redis.keys("sallyport:rl:clients:*");
    expect(keys).toHaveLength(2);
    expect(keys.join(" ")).not.toContain("s3cr3t");
    expect(keys.join(" ")).not.toContain("10.0.0.2");
  });

  test("a slot given back is the key's newest request, popped from the set", async () => {
    const { limiter } = await member();
    const l = limiter("refund", 2, 60_000);
    expect([await l.take("s"), await l.take("s")]).toEqual([0, 0]);
    l.giveBack("s");
    expect(await l.take("s")).toBe(0);
    expect(await l.take("s")).toBeGreaterThan(0);
  });

  test("a server that lost the script (a restart, SCRIPT FLUSH) is sent it again", async () => {
    const { limiter } = await member();
    const l = limiter("flushed", 5, 60_000);
    expect(await l.take("s")).toBe(0);
    await redis.cli("SCRIPT", "FLUSH");
    expect(await l.take("s")).toBe(0);
    expect(await redis.cli("ZCARD", "sallyport:rl:flushed")).toBe("2");
  });
});

describe.skipIf(NO_REDIS)("when Redis cannot answer", () => {
  test("stopped: fail open — the local limit of the same settings decides, counted, the shard logged once", async () => {
    const { limiter, stats } = await member();
    const l = limiter("open", 2, 60_000);
    expect(await l.take("s")).toBe(0);
    warnings.length = 0;
    await redis.stop();
    expect([await l.take("s"), await l.take("s"), await l.take("s")].map((w) => w > 0)).toEqual([false, false, true]);
    expect(stats.failOpen).toBe(3);
    expect(warnings.filter((w) => w.includes(`redis ${redis.address} is unavailable`))).toHaveLength(1);
    expect(warnings.filter((w) => w.includes("decided by the local limit (fail open)"))).toHaveLength(1);
  });

  test("stopped, with -cluster-ratelimit-fail-closed: 503 ratelimit-unavailable with Retry-After, counted", async () => {
    const { limiter, stats } = await member({ failClosed: true });
    const l = limiter("closed", 2, 60_000);
    await redis.stop();
    const refused = await l.take("s").catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(ProxyError);
    const err = refused as ProxyError;
    expect([err.status, err.reason, err.headers?.["retry-after"]]).toEqual([503, "ratelimit-unavailable", "1"]);
    expect(stats.failClosed).toBe(1);
  });

  test("no answer (the server paused): the call gives up at -swarm-redis-read-timeout, and the shard is skipped for a second, then tried again", async () => {
    const clock = new FakeClock();
    const { limiter, swarm, stats } = await member({ clock, readTimeout: 25 });
    const l = limiter("paused", 5, 60_000);
    expect(await l.take("s")).toBe(0);
    redis.pause();
    try {
      const pending = l.take("s");
      await clock.advance(25);
      expect(await pending).toBe(0);
      const [shard] = swarm.shards;
      expect(shard!.failures.get("timeout")).toBe(1);
      // Skipped: decided at once, without a call that would wait again.
      expect(await l.take("s")).toBe(0);
      expect(shard!.failures.get("timeout")).toBe(1);
      expect(stats.failOpen).toBe(2);
    } finally {
      redis.resume();
    }
    await clock.advance(DOWN_MS);
    expect(await l.take("s")).toBe(0);
    expect(await redis.cli("ZCARD", "sallyport:rl:paused")).toBe("3");
  });

  test("back after a restart (empty): the next call reconnects, and the limit is Redis's again", async () => {
    const { limiter, stats } = await member();
    const l = limiter("restarted", 1, 60_000);
    expect(await l.take("s")).toBe(0);
    await redis.restart();
    expect(await l.take("s")).toBe(0);
    expect(await l.take("s")).toBeGreaterThan(0);
    expect(stats.failOpen).toBe(0);
  });
});

test.skipIf(NO_REDIS)("-ratelimits type=clusterService: the global limit counts in Redis, for the whole fleet", async () => {
  const [a, b] = [await member(), await member()];
  const settings = { type: "clusterService", maxHits: 2, timeWindow: 60_000, group: "global" } as const;
  const cluster = (m: typeof a) => (scope: { group: string; perClient: boolean }, max: number, window: number, fallback: Limiter) =>
    new ClusterLimiter(`sallyport:rl:${scope.group}`, scope.perClient, max, window, { swarm: m.swarm, fallback, failClosed: false, stats: m.stats });
  const [ga, gb] = [createRequestLimit(settings, a.clock, undefined, cluster(a)), createRequestLimit(settings, b.clock, undefined, cluster(b))];
  const state = { headers: new Headers(), peer: "10.0.0.1" } as unknown as RequestState;
  const refused = async (limit: typeof ga) => (await limit.check(state, new Unsent())) !== undefined;
  expect([await refused(ga), await refused(gb), await refused(ga), await refused(gb)]).toEqual([false, false, true, true]);
  expect(await redis.keys("sallyport:rl:global*")).toEqual(["sallyport:rl:global"]);
});

test.skipIf(NO_REDIS)("calls never pile up behind a Redis that does not answer: past maxInFlight one fails at once, as overloaded, and the shard stays usable", async () => {
  const clock = new FakeClock();
  const shard = new Shard(shardOf(redis.address), { password: undefined, dialTimeout: 1000, readTimeout: 1000, ca: undefined, clock, onHealth: () => {}, latency: () => {}, maxInFlight: 2 });
  try {
    expect(await shard.call("PING", [])).toBe("PONG");
    redis.pause();
    const waiting = [shard.call("PING", []), shard.call("PING", [])].map((p) => p.catch((e: unknown) => e));
    const third = await shard.call("PING", []).catch((e: unknown) => e);
    expect(third).toBeInstanceOf(ShardFailure);
    expect((third as ShardFailure).kind).toBe("overloaded");
    expect(shard.usable).toBe(true);
    redis.resume();
    expect(await Promise.all(waiting)).toEqual(["PONG", "PONG"]);
    expect(shard.failures.get("overloaded")).toBe(1);
  } finally {
    redis.resume();
    shard.close();
  }
});
