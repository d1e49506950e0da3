/**
 * @module
 * Our own DNS cache for client-chosen destinations: names only (a numeric host never reaches a
 * resolver, see ../net/numeric-host.ts), asked with `node:dns` `Resolver` — A and/or AAAA
 * records, no search domains (getaddrinfo's `ndots`/search list would turn `api` into
 * `api.corp.example`; Envoy's `no_default_search_domain`), the servers of `-dns-servers` or the
 * system's. Answers live as long as their record TTL, kept within `-dns-min-ttl`/`-dns-max-ttl`,
 * on the one clock; concurrent lookups of one name share one query.
 *
 * Node's Resolver keeps a TTL cache of its own, which would hide expiry from ours: each lookup
 * gets a fresh Resolver. Its `timeout` is not kept exactly (300 ms took a second here), so the
 * deadline is ours too.
 *
 * It counts what it does ({@link DnsStats}: lookups, cache hits, queries, failures, timeouts) as
 * plain numbers that /metrics reads when scraped.
 */
import { promises as dns } from "node:dns";
import { ProxyError } from "../exchange/errors.ts";
import { parseNumericHost } from "../net/numeric-host.ts";
import type { Clock } from "../util/clock.ts";

export type LookupFamily = "any" | "v4" | "v6";

export interface ResolverOptions {
  /** `host:port` entries; empty: the system's servers */
  readonly servers?: readonly string[];
  readonly family: LookupFamily;
  /** ms an answer is kept at least / at most, whatever its TTL says */
  readonly minTtl: number;
  readonly maxTtl: number;
  /** ms a lookup may take: then 504 `dns-timeout` */
  readonly timeout: number;
  readonly clock: Clock;
}

export interface ResolvedName {
  readonly addresses: readonly string[];
  /** ms the answer is kept */
  readonly ttl: number;
  readonly fromCache: boolean;
}

export interface NameResolver {
  /** Resolves a DNS name (never a numeric host). Rejects with 502 `dns-failed` or 504 `dns-timeout`. */
  resolve(name: string): Promise<ResolvedName>;
}

/** What the cache did, for metrics: plain numbers, counted where it happens. */
export interface DnsStats {
  /** names asked for, answered from the cache or not */
  lookups: number;
  /** answered from the cache (and `localhost`, which is never asked) */
  cacheHits: number;
  /** queries sent; concurrent lookups of one name share one */
  queries: number;
  /** queries that ended in 502 `dns-failed` */
  failures: number;
  /** queries that ended in 504 `dns-timeout` */
  timeouts: number;
}

/** Our resolver: a {@link NameResolver} that counts. */
export interface CachingResolver extends NameResolver {
  readonly stats: Readonly<DnsStats>;
}

interface Entry {
  readonly addresses: readonly string[];
  readonly ttl: number;
  readonly expires: number;
}

/** What each family asks for. */
const QUERIES: Record<LookupFamily, readonly ("resolve4" | "resolve6")[]> = { any: ["resolve4", "resolve6"], v4: ["resolve4"], v6: ["resolve6"] };

/**
 * RFC 6761 §6.3: `localhost` and names under it are the loopback, whatever a DNS server says;
 * answered here, so the guard refuses them as loopback instead of a server choosing.
 */
const LOOPBACK: Record<LookupFamily, readonly string[]> = { any: ["127.0.0.1", "::1"], v4: ["127.0.0.1"], v6: ["::1"] };
const isLocalhost = (name: string) => name === "localhost" || name.endsWith(".localhost");

/** Most names kept at once: client-chosen names must not grow memory without bound. */
export const MAX_CACHED_NAMES = 10_000;

/** A name with no records of the asked types. */
const NO_RECORDS = new Set(["ENOTFOUND", "ENODATA", "NXDOMAIN"]);

export function createResolver(options: ResolverOptions): CachingResolver {
  const cache = new Map<string, Entry>();
  const stats: DnsStats = { lookups: 0, cacheHits: 0, queries: 0, failures: 0, timeouts: 0 };
  const inFlight = new Map<string, Promise<ResolvedName>>();
  const { clock } = options;

  async function query(name: string): Promise<ResolvedName> {
    const resolver = new dns.Resolver({ timeout: options.timeout, tries: 1 });
    if (options.servers?.length) resolver.setServers([...options.servers]);
    const answers = await withDeadline(
      Promise.all(QUERIES[options.family].map((method) => resolver[method](name, { ttl: true }).catch((err: NodeJS.ErrnoException) => (NO_RECORDS.has(err.code ?? "") ? [] : Promise.reject(err))))),
      name,
      () => resolver.cancel(),
    );
    const records = answers.flat();
    if (records.length === 0) throw new ProxyError(502, "dns-failed", `Bad Gateway: cannot resolve ${name}`);
    const seconds = Math.min(...records.map((r) => r.ttl));
    const ttl = Math.min(options.maxTtl, Math.max(options.minTtl, seconds * 1000));
    const addresses = records.map((r) => r.address);
    cache.delete(name);
    // Map order is insertion order: the first key is the oldest answer.
    if (cache.size >= MAX_CACHED_NAMES) cache.delete(cache.keys().next().value!);
    cache.set(name, { addresses, ttl, expires: clock.now() + ttl });
    return { addresses, ttl, fromCache: false };
  }

  /** The lookup, or 504 once `timeout` ms have passed on the clock. */
  function withDeadline<T>(lookup: Promise<T>, name: string, cancel: () => void): Promise<T> {
    const { promise, resolve, reject } = Promise.withResolvers<T>();
    const timedOut = () => new ProxyError(504, "dns-timeout", `Gateway Timeout: no DNS answer for ${name} within ${options.timeout} ms`);
    const timer = clock.setTimeout(() => {
      reject(timedOut());
      cancel(); // the Resolver's own query stops too
    }, options.timeout);
    lookup
      .then(resolve, (err: NodeJS.ErrnoException) =>
        // The Resolver's own timer may fire first: that is a timeout too.
        reject(err?.code === "ETIMEOUT" ? timedOut() : new ProxyError(502, "dns-failed", `Bad Gateway: cannot resolve ${name}`, { cause: err })),
      )
      .finally(() => timer.cancel());
    return promise;
  }

  /** Counts how a query ended, once however many lookups share it. */
  function counted(name: string): Promise<ResolvedName> {
    stats.queries++;
    return query(name).catch((err: unknown) => {
      if (err instanceof ProxyError) stats[err.reason === "dns-timeout" ? "timeouts" : "failures"]++;
      throw err;
    });
  }

  return {
    stats,
    resolve(raw) {
      const name = raw.toLowerCase().replace(/\.$/, "");
      // A resolver might read `0177.1` differently from the URL parser: numbers never get here.
      if (parseNumericHost(name).kind !== "name") return Promise.reject(new TypeError(`not a DNS name: ${JSON.stringify(raw)}`));
      stats.lookups++;
      if (isLocalhost(name)) {
        stats.cacheHits++;
        return Promise.resolve({ addresses: LOOPBACK[options.family], ttl: options.maxTtl, fromCache: true });
      }
      const cached = cache.get(name);
      if (cached && clock.now() < cached.expires) {
        stats.cacheHits++;
        return Promise.resolve({ addresses: cached.addresses, ttl: cached.ttl, fromCache: true });
      }
      let pending = inFlight.get(name);
      if (!pending) {
        pending = counted(name).finally(() => inFlight.delete(name));
        inFlight.set(name, pending);
      }
      return pending;
    },
  };
}
