/**
 * @module
 * Rate limit settings and the `-ratelimits` flag, Skipper's syntax:
 * `type=client|service|disabled,max-hits=N,time-window=D[,group=G]`.
 */
import { KeyValueFlag } from "../util/kv-flag.ts";

/** `client`: a bucket per client address; `service`: one bucket for everyone; the cluster types keep theirs in Redis (-enable-swarm). */
export type RatelimitType = "client" | "service" | "clusterClient" | "clusterService" | "disabled";

export interface RatelimitSettings {
  readonly type: RatelimitType;
  /** requests allowed per window */
  readonly maxHits: number;
  /** ms */
  readonly timeWindow: number;
  /** the cluster types' group: routes' cluster filters with the same group share its budget */
  readonly group: string;
}

export const NO_RATELIMIT: RatelimitSettings = Object.freeze({ type: "disabled", maxHits: 0, timeWindow: 0, group: "" });

const FLAG = new KeyValueFlag("ratelimit", ["type", "max-hits", "time-window", "group"]);
const TYPES = ["client", "service", "disabled", "local", "clusterClient", "clusterService"] as const;

/**
 * Parses one `-ratelimits` value. Without `type` the entry is disabled, as in Skipper; `local` is
 * Skipper's deprecated name for `client`. The cluster types need `-enable-swarm` (checked with the
 * whole configuration) and a group; Skipper silently never limits without a swarm, here it is an
 * error.
 */
export function parseRatelimitFlag(value: string): RatelimitSettings {
  let type: RatelimitType = "disabled";
  let maxHits = 0;
  let timeWindow = 0;
  let group = "";
  for (const [key, text] of FLAG.pairs(value)) {
    switch (key) {
      case "type": {
        const t = FLAG.oneOf(key, text, TYPES, "client, service, clusterClient, clusterService or disabled");
        type = t === "local" ? "client" : t;
        break;
      }
      case "max-hits":
        maxHits = FLAG.count(key, text);
        break;
      case "time-window":
        timeWindow = FLAG.duration(key, text);
        break;
      case "group":
        group = text;
        break;
    }
  }
  if (type !== "disabled" && timeWindow <= 0) throw FLAG.error("time-window: must be a positive duration like 1m");
  if (type.startsWith("cluster") && group === "") throw FLAG.error(`group: type=${type} needs a group, the budget it shares with cluster filters of that group`);
  return Object.freeze({ type, maxHits, timeWindow, group });
}
