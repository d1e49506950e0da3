/**
 * @module
 * `-enable-swarm`: the swarm's Redis shards, and the cluster limiters the registry and the
 * global limit make on them. Each key of a group lives under `sallyport:rl:GROUP`.
 */
import type { Config } from "../config/schema.ts";
import { Swarm } from "../swarm/index.ts";
import type { Clock } from "../util/clock.ts";
import { ClusterLimiter, ClusterStats } from "./cluster.ts";
import type { ClusterLimiterFactory } from "./registry.ts";

export interface OpenSwarm {
  readonly swarm: Swarm;
  readonly stats: ClusterStats;
  readonly limiters: ClusterLimiterFactory;
}

type SwarmConfig = Pick<Config, "enableSwarm" | "swarmRedisUrls" | "swarmRedisPassword" | "swarmRedisCaFile" | "swarmRedisDialTimeout" | "swarmRedisReadTimeout" | "clusterRatelimitFailClosed">;

/** undefined without -enable-swarm; a missing password or CA file stops the start. */
export async function openSwarm(config: SwarmConfig, log: { warn(message: string): void; info(message: string): void }, clock: Clock): Promise<OpenSwarm | undefined> {
  if (!config.enableSwarm) return undefined;
  const swarm = await Swarm.open({
    shards: config.swarmRedisUrls,
    passwordFile: config.swarmRedisPassword,
    caFile: config.swarmRedisCaFile,
    dialTimeout: config.swarmRedisDialTimeout,
    readTimeout: config.swarmRedisReadTimeout,
    clock,
    log,
  });
  const stats = new ClusterStats(clock, log);
  const failClosed = config.clusterRatelimitFailClosed;
  return {
    swarm,
    stats,
    limiters: ({ group, perClient }, max, window, fallback) => new ClusterLimiter(`sallyport:rl:${group}`, perClient, max, window, { swarm, fallback, failClosed, stats }),
  };
}
