/**
 * @module
 * The global `-ratelimits` limit: the first entry, checked for every request before routing
 * (Skipper's `ratelimit.Registry.Check`). `client` counts per client address, `service` counts
 * all requests together.
 */
import type { RequestState } from "../exchange/state.ts";
import type { Clock } from "../util/clock.ts";
import { rejectionHeaders, SlidingWindowLimiter } from "./limiter.ts";
import { byClient, sameBucket } from "./lookup.ts";
import type { RatelimitSettings } from "./settings.ts";

export interface RequestLimit {
  /** undefined when the request may pass, else the headers of its 429 */
  check(state: RequestState): Record<string, string> | undefined;
  /** requests refused so far, for metrics */
  readonly rejected: number;
}

export const UNLIMITED: RequestLimit = Object.freeze({ check: () => undefined, rejected: 0 });

export function createRequestLimit(settings: RatelimitSettings | undefined, clock: Clock): RequestLimit {
  if (!settings || settings.type === "disabled") return UNLIMITED;
  const limiter = new SlidingWindowLimiter(settings.maxHits, settings.timeWindow, clock);
  const lookup = settings.type === "client" ? byClient : sameBucket;
  let rejected = 0;
  return {
    get rejected() {
      return rejected;
    },
    check(state) {
      const key = lookup(state);
      const wait = key === "" ? 0 : limiter.take(key);
      if (wait <= 0) return undefined;
      rejected++;
      return rejectionHeaders(limiter, wait);
    },
  };
}
