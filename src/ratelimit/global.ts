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
}

export const UNLIMITED: RequestLimit = Object.freeze({ check: () => undefined });

export function createRequestLimit(settings: RatelimitSettings | undefined, clock: Clock): RequestLimit {
  if (!settings || settings.type === "disabled") return UNLIMITED;
  const limiter = new SlidingWindowLimiter(settings.maxHits, settings.timeWindow, clock);
  const lookup = settings.type === "client" ? byClient : sameBucket;
  return {
    check(state) {
      const key = lookup(state);
      const wait = key === "" ? 0 : limiter.take(key);
      return wait > 0 ? rejectionHeaders(limiter, wait) : undefined;
    },
  };
}
