/**
 * @module
 * ratelimit and clientRatelimit (Skipper's filters/ratelimit), sliding windows kept in process:
 *
 * ```
 * ratelimit(100, "1m")                  // 100 requests a minute through every route with these settings
 * ratelimit(100, 60, 503)               // a number window is seconds, as in Skipper; reject with 503
 * clientRatelimit(10, "1h")             // per client: first X-Forwarded-For address, else the peer
 * clientRatelimit(10, "1h", "Authorization")            // per value of a header
 * clientRatelimit(10, "1h", "X-Tenant,Authorization")   // per combination of headers
 * ```
 *
 * A rejected request is answered by the filter (status, default 429, with `X-Rate-Limit` per
 * hour and `Retry-After` in seconds): later filters and the backend are skipped, the response
 * halves of earlier filters still run. A request whose key headers are all missing is not limited.
 */
import { readArgs, type ArgReader } from "../util/args.ts";
import { errorState, statusText } from "../exchange/errors.ts";
import { rejectionHeaders, type Limiter } from "../ratelimit/limiter.ts";
import { byClient, byHeaders, sameBucket, type KeyLookup } from "../ratelimit/lookup.ts";
import type { LimiterRegistry } from "../ratelimit/registry.ts";
import type { Filter, FilterSpec } from "./types.ts";

function limits(a: ArgReader): { max: number; window: number } {
  const max = a.integer(0, "max hits");
  if (max < 0) throw a.error(0, "max hits", `must not be negative, got ${max}`);
  // Skipper reads a number window as seconds here (the breaker filters read milliseconds).
  const window = typeof a.args[1] === "number" ? a.args[1] * 1000 : a.duration(1, "time window");
  if (!(window > 0)) throw a.error(1, "time window", "must be a positive duration");
  return { max, window };
}

function limitFilter(registry: LimiterRegistry, kind: string, max: number, window: number, lookup: KeyLookup, status: number): Filter {
  const limiter: Limiter = registry.acquire(kind, max, window);
  let closed = false;
  return {
    request(ctx) {
      const key = lookup(ctx.request);
      if (key === "") return;
      const refuse = (wait: number) => {
        if (wait > 0) ctx.serve(errorState(status, "rate-limited", statusText(status), rejectionHeaders(limiter, wait)));
        else ctx.onUnsent(() => limiter.giveBack(key));
      };
      const wait = limiter.take(key);
      return typeof wait === "number" ? refuse(wait) : wait.then(refuse);
    },
    close() {
      if (closed) return;
      closed = true;
      registry.release(kind, max, window);
    },
  };
}

export function ratelimitFilters(registry: LimiterRegistry): FilterSpec[] {
  return [
    {
      name: "ratelimit",
      create(args) {
        const a = readArgs("ratelimit", args).count(2, 3);
        const { max, window } = limits(a);
        const status = a.has(2) ? a.integer(2, "status") : 429;
        if (status < 100 || status > 599) throw a.error(2, "status", `must be an HTTP status from 100 to 599, got ${status}`);
        return limitFilter(registry, "service", max, window, sameBucket, status);
      },
    },
    {
      name: "clientRatelimit",
      create(args) {
        const a = readArgs("clientRatelimit", args).count(2, 3);
        const { max, window } = limits(a);
        const names = (a.optional(2, "key headers", "string") ?? "")
          .split(",")
          .map((n) => n.trim().toLowerCase())
          .filter((n) => n !== "");
        const lookup = names.length > 0 ? byHeaders(names) : byClient;
        return limitFilter(registry, `client ${names.join(",")}`, max, window, lookup, 429);
      },
    },
  ];
}
