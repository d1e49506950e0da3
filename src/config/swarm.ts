/**
 * @module
 * What the swarm is opened from (-enable-swarm and the -swarm-redis-* flags): one place, so the
 * start and `sallyport check` read a command line's Redis settings the same way.
 */
import type { ClusterOptions } from "../ratelimit/swarm.ts";
import type { Config } from "./schema.ts";

export function swarmOptions(config: Config): ClusterOptions | undefined {
  if (!config.enableSwarm) return undefined;
  return {
    shards: config.swarmRedisUrls,
    passwordFile: config.swarmRedisPassword,
    caFile: config.swarmRedisCaFile,
    dialTimeout: config.swarmRedisDialTimeout,
    readTimeout: config.swarmRedisReadTimeout,
    failClosed: config.clusterRatelimitFailClosed,
  };
}
