/**
 * @module
 * `-enable-swarm`: the swarm's Redis shards, and the cluster limiters the registry and the
 * global limit make on them. Each key of a group lives under `sallyport:rl:GROUP`.
 */
import { Swarm, type SwarmOptions } from "../swarm/index.ts";
import type { Clock } from "../util/clock.ts";
import { ClusterLimiter, ClusterStats } from "./cluster.ts";
import type { ClusterLimiterFactory } from "./registry.ts";

export interface OpenSwarm {
  readonly swarm: Swarm;
  readonly stats: ClusterStats;
  readonly limiters: ClusterLimiterFactory;
}

/** What the flags say (src/config/swarm.ts): undefined without -enable-swarm. */
export type ClusterOptions = Omit<SwarmOptions, "clock" | "log"> & { readonly failClosed: boolean };

/** undefined without -enable-swarm; a missing password or CA file stops the start. */
export async function openSwarm(options: ClusterOptions | undefined, log: SwarmOptions["log"], clock: Clock): Promise<OpenSwarm | undefined> {
  if (!options) return undefined;
  const swarm = await Swarm.open({ ...options, clock, log });
  const stats = new ClusterStats(clock, log);
  const { failClosed } = options;
  return {
    swarm,
    stats,
    limiters: ({ group, perClient }, max, window, fallback) => new ClusterLimiter(`sallyport:rl:${group}`, perClient, max, window, { swarm, fallback, failClosed, stats }),
  };
}
