/**
 * @module
 * Counts their owners keep anyway, read when scraped: nothing is added on the request path for
 * them. Retries come as a function (the retry loop lives in proxy/, beside us, not below);
 * egress decisions are the dial plan's map by reason; DNS and secrets keep plain stats objects;
 * rate limits count their own rejections (a filter's 429 leaves no cause in the exchange record).
 */
import type { DnsStats } from "../egress/dns.ts";
import type { SecretStats } from "../secrets/store.ts";
import type { MetricRegistry } from "./registry.ts";

export function retryMetrics(registry: MetricRegistry, retries: () => number): void {
  registry.collect("sallyport_retries_total", "Backend tries beyond the first, of all requests.", "counter", [], (emit) => emit([], retries()));
}

/** `filters`: the ratelimit registry's counts by kind; `global`: the -ratelimits limit's. */
export function rateLimitMetrics(registry: MetricRegistry, filters: { readonly rejections: ReadonlyMap<string, number> } | undefined, global: { readonly rejected: number } | undefined): void {
  registry.collect("sallyport_ratelimit_rejections_total", "Requests refused by a rate limit: service (ratelimit filters), client (clientRatelimit filters), global (-ratelimits).", "counter", ["limit"], (emit) => {
    if (filters) for (const [kind, count] of filters.rejections) emit([kind], count);
    if (global) emit(["global"], global.rejected);
  });
}

/** What a listener's admission (src/net/admission.ts) counts. */
export interface AdmissionCounts {
  readonly waiting: number;
  readonly dropped: number;
}

/** -enable-tcp-queue: what waits at each listener, and how many waited too long (closed when the queue was full). */
export function admissionMetrics(registry: MetricRegistry, admissions: ReadonlyMap<string, AdmissionCounts>): void {
  registry.collect("sallyport_listener_waiting", "Connections accepted and waiting for a slot (-max-tcp-listener-concurrency), unread.", "gauge", ["listener"], (emit) => {
    for (const [listener, admission] of admissions) emit([listener], admission.waiting);
  });
  registry.collect("sallyport_listener_dropped_total", "Waiting connections closed because the queue was full (-max-tcp-listener-queue).", "counter", ["listener"], (emit) => {
    for (const [listener, admission] of admissions) emit([listener], admission.dropped);
  });
}

/** What the proxy holds of backends' answers that clients have not taken yet. */
export function bufferMetrics(registry: MetricRegistry, queued: () => number): void {
  registry.collect("sallyport_response_bytes_queued", "Response bytes read from backends and not yet taken for the client: at most 64 KiB per response body still arriving, plus a last larger read.", "gauge", [], (emit) => emit([], queued()));
}

export function egressMetrics(registry: MetricRegistry, decisions: ReadonlyMap<string, number>, wouldDeny?: ReadonlyMap<string, ReadonlyMap<string, number>>): void {
  registry.collect("sallyport_egress_decisions_total", "Egress policy decisions on client-chosen destinations, by reason.", "counter", ["reason"], (emit) => {
    for (const [reason, count] of decisions) emit([reason], count);
  });
  if (!wouldDeny) return;
  registry.collect("sallyport_egress_would_deny_total", "Report mode: destinations the egress rules refuse that were let through, by the refusing reason and host:port (past 1000 destinations, destination=\"other\").", "counter", ["reason", "destination"], (emit) => {
    for (const [reason, byDestination] of wouldDeny) for (const [destination, count] of byDestination) emit([reason, destination], count);
  });
}

export function dnsMetrics(registry: MetricRegistry, stats: Readonly<DnsStats>): void {
  const counters: [keyof DnsStats, string, string][] = [
    ["lookups", "sallyport_dns_lookups_total", "Names looked up for client-chosen destinations, from the cache or not."],
    ["cacheHits", "sallyport_dns_cache_hits_total", "Lookups answered from the DNS cache."],
    ["queries", "sallyport_dns_queries_total", "DNS queries sent (concurrent lookups of a name share one)."],
    ["failures", "sallyport_dns_failures_total", "DNS queries that found no address (502 dns-failed)."],
    ["timeouts", "sallyport_dns_timeouts_total", "DNS queries that got no answer in time (504 dns-timeout)."],
  ];
  for (const [field, name, help] of counters) registry.collect(name, help, "counter", [], (emit) => emit([], stats[field]));
}

/** `unixMs` turns a clock reading into wall-clock ms, for the timestamps. */
export function secretMetrics(registry: MetricRegistry, stats: SecretStats, unixMs: (clockMs: number) => number): void {
  registry.collect("sallyport_secrets_reloads_total", "Completed reads of every -credentials-paths entry.", "counter", [], (emit) => emit([], stats.reloads));
  registry.collect("sallyport_secrets_read_errors_total", "Secrets found unreadable or invalid, counted at each read, and reads that failed.", "counter", [], (emit) => emit([], stats.errors));
  registry.collect("sallyport_secrets_last_read_timestamp_seconds", "When each secret file last gave a usable value, by path (never the value).", "gauge", ["path"], (emit) => {
    for (const [path, at] of stats.lastRead) emit([path], unixMs(at) / 1000);
  });
}

/** What the swarm and the cluster limiters count (src/swarm, src/ratelimit/cluster.ts). */
export interface SwarmCounts {
  readonly shards: readonly { readonly address: string }[];
  observeLatency(observe: (shard: string, seconds: number) => void): void;
  failures(): Iterable<[shard: string, kind: string, count: number]>;
  readonly stats: { readonly failOpen: number; readonly failClosed: number };
}

const REDIS_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1];

export function swarmMetrics(registry: MetricRegistry, swarm: SwarmCounts): void {
  const latency = registry.histogram("sallyport_redis_call_duration_seconds", "Redis calls of cluster rate limits that were answered, by shard.", ["shard"], REDIS_BUCKETS);
  for (const shard of swarm.shards) latency.init([shard.address]);
  swarm.observeLatency((shard, seconds) => latency.observe([shard], seconds));
  registry.collect("sallyport_redis_errors_total", "Redis calls of cluster rate limits that got no answer, by shard and kind: timeout, connection (refused, closed, login failed), overloaded (too many waiting).", "counter", ["shard", "kind"], (emit) => {
    for (const [shard, kind, count] of swarm.failures()) emit([shard, kind], count);
  });
  registry.collect("sallyport_cluster_ratelimit_unavailable_total", "Cluster rate-limit decisions made without Redis: fail_open (the local limit decided) or fail_closed (503).", "counter", ["decision"], (emit) => {
    emit(["fail_open"], swarm.stats.failOpen);
    emit(["fail_closed"], swarm.stats.failClosed);
  });
}
