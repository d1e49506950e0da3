/**
 * @module
 * Metrics for `/metrics` on the support listener, in the Prometheus text format. Everything flows
 * from what the running proxy already has: the exchange records (the only hook on the request
 * path), the breaker registry, the dial plan's decision counts, the DNS cache's and the secrets
 * store's stats, the rate limits' and retries' counts; the process is read when scraped. The app passes those pieces
 * in; this module never reaches for them. Destination labels are capped at `maxHosts`
 * (`-metrics-max-hosts`), the rest sharing `host="other"`.
 *
 * ```ts
 * const metrics = createMetrics({ clock, maxHosts: config.metricsMaxHosts, exchanges, breakers, … });
 * supportListener({ …, metrics });   // GET /metrics → metrics.render()
 * metrics.stop();                    // on shutdown: the lag timer and the subscriptions end
 * ```
 */
import type { BreakerRegistry } from "../circuit/registry.ts";
import type { DnsStats } from "../egress/dns.ts";
import type { Exchanges } from "../exchange/record.ts";
import type { SecretStats } from "../secrets/store.ts";
import type { Clock } from "../util/clock.ts";
import { breakerMetrics } from "./breakers.ts";
import { exchangeMetrics } from "./exchanges.ts";
import { HostLabels } from "./labels.ts";
import { processMetrics, type CertificateExpiry } from "./process.ts";
import { MetricRegistry } from "./registry.ts";
import { admissionMetrics, bufferMetrics, dnsMetrics, egressMetrics, rateLimitMetrics, retryMetrics, secretMetrics, swarmMetrics, type AdmissionCounts, type SwarmCounts } from "./sources.ts";

export type { CertificateExpiry } from "./process.ts";

export interface MetricsOptions {
  readonly clock: Clock;
  /** `-metrics-max-hosts`: destinations with series of their own */
  readonly maxHosts: number;
  readonly exchanges: Exchanges;
  readonly breakers?: BreakerRegistry | undefined;
  /** the ratelimit filters' shared limiters (LimiterRegistry) */
  readonly ratelimits?: { readonly rejections: ReadonlyMap<string, number> } | undefined;
  /** the global -ratelimits limit (createRequestLimit's result) */
  readonly requestLimit?: { readonly rejected: number } | undefined;
  /** tries beyond the first, of all requests (`RetryStats.retries`) */
  readonly retries?: (() => number) | undefined;
  /** report mode's would-be denials by reason and destination (the dial plan's) */
  readonly egressWouldDeny?: ReadonlyMap<string, ReadonlyMap<string, number>> | undefined;
  /** the dial plan's decisions by reason */
  readonly egressDecisions?: ReadonlyMap<string, number> | undefined;
  /** the DNS cache (createResolver's result) */
  readonly dns?: { readonly stats: Readonly<DnsStats> } | undefined;
  readonly secrets?: { readonly stats: SecretStats } | undefined;
  /** what each listener has open, by name (`Sallyport.openByListener`) */
  readonly openByListener?: (() => ReadonlyMap<string, number>) | undefined;
  /** response bytes queued for clients, over every response (the HTTP client's) */
  readonly responseBytesQueued?: (() => number) | undefined;
  /** -enable-tcp-queue: each listener's admission, by name (filled as the listeners are made) */
  readonly admissions?: ReadonlyMap<string, AdmissionCounts> | undefined;
  /** -enable-swarm: Redis call latency and failures, and cluster limits' decisions made without Redis */
  readonly swarm?: SwarmCounts | undefined;
  /** TLS listeners' certificates, once there are any */
  readonly certificates?: (() => Iterable<CertificateExpiry>) | undefined;
  /** wall-clock ms since the epoch (Date.now), for timestamps */
  readonly unixMs?: (() => number) | undefined;
  /** ms between event-loop lag samples; default {@link LAG_INTERVAL_MS} */
  readonly lagIntervalMs?: number | undefined;
}

export const LAG_INTERVAL_MS = 500;

export interface Metrics {
  /** The scrape: every family in the Prometheus text format. */
  render(): string;
  /** Stops the lag timer and unsubscribes; idempotent. */
  stop(): void;
}

export function createMetrics(options: MetricsOptions): Metrics {
  const { clock } = options;
  const unixMs = options.unixMs ?? Date.now;
  const registry = new MetricRegistry();
  const hosts = new HostLabels(options.maxHosts);
  const stops = [options.exchanges.subscribe(exchangeMetrics(registry, hosts, options.exchanges))];
  if (options.breakers) stops.push(breakerMetrics(registry, hosts, options.breakers));
  if (options.ratelimits || options.requestLimit) rateLimitMetrics(registry, options.ratelimits, options.requestLimit);
  if (options.retries) retryMetrics(registry, options.retries);
  if (options.egressDecisions) egressMetrics(registry, options.egressDecisions, options.egressWouldDeny);
  if (options.admissions) admissionMetrics(registry, options.admissions);
  if (options.responseBytesQueued) bufferMetrics(registry, options.responseBytesQueued);
  if (options.dns) dnsMetrics(registry, options.dns.stats);
  if (options.swarm) swarmMetrics(registry, options.swarm);
  // A clock reading is turned into wall time by its distance from now.
  if (options.secrets) secretMetrics(registry, options.secrets.stats, (at) => unixMs() - (clock.now() - at));
  stops.push(processMetrics(registry, { clock, unixMs, lagIntervalMs: options.lagIntervalMs ?? LAG_INTERVAL_MS, openByListener: options.openByListener, certificates: options.certificates }));
  return {
    render: () => registry.render(),
    stop: () => {
      for (const stop of stops.splice(0)) stop();
    },
  };
}
