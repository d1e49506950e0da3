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
 * clusterRatelimit("github", 5000, "1h")                // one budget for the fleet (-enable-swarm), every route of group "github"
 * clusterClientRatelimit("login", 10, "1m")             // per client, across the fleet
 * ```
 *
 * A rejected request is answered by the filter (status, default 429, with `X-Rate-Limit` per
 * hour and `Retry-After` in seconds): later filters and the backend are skipped, the response
 * halves of earlier filters still run. A request whose key headers are all missing is not limited.
 */
import { ArgError, readArgs, type ArgReader } from "../util/args.ts";
import { errorState, statusText } from "../exchange/errors.ts";
import { rejectionHeaders, type Limiter } from "../ratelimit/limiter.ts";
import { byClient, byHeaders, sameBucket, type KeyLookup } from "../ratelimit/lookup.ts";
import type { ClusterScope, LimiterRegistry } from "../ratelimit/registry.ts";
import type { Filter, FilterSpec } from "./types.ts";

/** `max` and `window` from arguments `first` and `first + 1`. */
function limits(a: ArgReader, first = 0): { max: number; window: number } {
  const max = a.integer(first, "max hits");
  if (max < 0) throw a.error(first, "max hits", `must not be negative, got ${max}`);
  // Skipper reads a number window as seconds here (the breaker filters read milliseconds).
  const given = a.args[first + 1];
  const window = typeof given === "number" ? given * 1000 : a.duration(first + 1, "time window");
  if (!(window > 0)) throw a.error(first + 1, "time window", "must be a positive duration");
  return { max, window };
}

/** The key headers argument: names, any case, comma-separated; none means per client address. */
function keyNames(a: ArgReader, index: number): string[] {
  return (a.optional(index, "key headers", "string") ?? "")
    .split(",")
    .map((n) => n.trim().toLowerCase())
    .filter((n) => n !== "");
}

const statusArg = (a: ArgReader, index: number, fallback: number): number => {
  const status = a.has(index) ? a.integer(index, "status") : fallback;
  if (status < 100 || status > 599) throw a.error(index, "status", `must be an HTTP status from 100 to 599, got ${status}`);
  return status;
};

/** The group of a cluster filter; without a swarm there is nowhere to keep it, which the route is told. */
function clusterGroup(registry: LimiterRegistry, a: ArgReader, name: string): string {
  const group = a.string(0, "group");
  if (group === "") throw a.error(0, "group", "must not be empty");
  if (!registry.clustered) throw new ArgError(name, undefined, undefined, "needs -enable-swarm with -swarm-redis-urls: its budget is kept in Redis");
  return group;
}

function limitFilter(registry: LimiterRegistry, kind: string, max: number, window: number, lookup: KeyLookup, status: number, cluster?: ClusterScope): Filter {
  const limiter: Limiter = registry.acquire(kind, max, window, cluster);
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
        return limitFilter(registry, "service", max, window, sameBucket, statusArg(a, 2, 429));
      },
    },
    {
      name: "clientRatelimit",
      create(args) {
        const a = readArgs("clientRatelimit", args).count(2, 3);
        const { max, window } = limits(a);
        const names = keyNames(a, 2);
        return limitFilter(registry, `client ${names.join(",")}`, max, window, names.length > 0 ? byHeaders(names) : byClient, 429);
      },
    },
    {
      name: "clusterRatelimit",
      create(args) {
        const a = readArgs("clusterRatelimit", args).count(3, 4);
        const { max, window } = limits(a, 1);
        const group = clusterGroup(registry, a, "clusterRatelimit");
        return limitFilter(registry, `cluster ${group}`, max, window, sameBucket, statusArg(a, 3, 429), { group, perClient: false });
      },
    },
    {
      name: "clusterClientRatelimit",
      create(args) {
        const a = readArgs("clusterClientRatelimit", args).count(3, 4);
        const { max, window } = limits(a, 1);
        const group = clusterGroup(registry, a, "clusterClientRatelimit");
        const names = keyNames(a, 3);
        const lookup = names.length > 0 ? byHeaders(names) : byClient;
        return limitFilter(registry, `clusterClient ${group} ${names.join(",")}`, max, window, lookup, 429, { group, perClient: true });
      },
    },
  ];
}
