/**
 * @module
 * The global `-ratelimits` limit: the first entry, checked for every request before routing
 * (Skipper's `ratelimit.Registry.Check`). `client` counts per client address, `service` counts
 * all requests together.
 */
import type { RequestState } from "../exchange/state.ts";
import type { Unsent } from "../exchange/unsent.ts";
import type { Clock } from "../util/clock.ts";
import { localLimiters, rejectionHeaders, type LimiterFactory } from "./limiter.ts";
import type { ClusterLimiterFactory } from "./registry.ts";
import { byClient, sameBucket } from "./lookup.ts";
import type { RatelimitSettings } from "./settings.ts";

export interface RequestLimit {
  /**
   * undefined when the request may pass, else the headers of its 429; a promise of that under
   * `-workers`. A request let through gives its slot back if it turns out `unsent`.
   */
  check(state: RequestState, unsent: Unsent): Rejection | Promise<Rejection>;
  /** requests refused so far, for metrics */
  readonly rejected: number;
}

/** The headers of a 429, or undefined: the request may pass. */
export type Rejection = Record<string, string> | undefined;

export const UNLIMITED: RequestLimit = Object.freeze({ check: () => undefined, rejected: 0 });

export function createRequestLimit(settings: RatelimitSettings | undefined, clock: Clock, create: LimiterFactory = localLimiters(clock), cluster?: ClusterLimiterFactory): RequestLimit {
  if (!settings || settings.type === "disabled") return UNLIMITED;
  const { type, maxHits, timeWindow, group } = settings;
  const perClient = type === "client" || type === "clusterClient";
  const local = create(`-ratelimits ${type} ${group} ${maxHits} ${timeWindow}`, maxHits, timeWindow);
  const clustered = type === "clusterClient" || type === "clusterService";
  if (clustered && !cluster) throw new Error(`-ratelimits type=${type} needs -enable-swarm`);
  const limiter = clustered ? cluster!({ group, perClient }, maxHits, timeWindow, local) : local;
  const lookup = perClient ? byClient : sameBucket;
  let rejected = 0;
  return {
    get rejected() {
      return rejected;
    },
    check(state, unsent) {
      const key = lookup(state);
      if (key === "") return undefined;
      const decide = (wait: number): Rejection => {
        if (wait <= 0) return void unsent.add(() => limiter.giveBack(key));
        rejected++;
        return rejectionHeaders(limiter, wait);
      };
      const wait = limiter.take(key);
      return typeof wait === "number" ? decide(wait) : wait.then(decide);
    },
  };
}
