/**
 * What /metrics costs the request path: the exchange observer, the one call a request makes into
 * metrics, timed per record with our registry (src/metrics) and with prom-client doing the same
 * updates, labels and buckets. A scrape is timed too, though it is off the request path.
 *
 *   bun run bench/metrics.ts [--quick]        # ours only; --quick: a tenth of the rounds
 *   npm install --no-save prom-client@15 && bun run bench/metrics.ts   # both
 *
 * The records are a mix a busy forward port might see: 20 routes, 500 destinations, mostly 2xx
 * with 4xx, 5xx, errors and a tenth tunnels.
 */
import { Exchanges, type ExchangeObserver, type ExchangeRecord } from "../src/exchange/record.ts";
import { DURATION_BUCKETS, exchangeMetrics, outcome } from "../src/metrics/exchanges.ts";
import { HostLabels, methodLabel, statusClass } from "../src/metrics/labels.ts";
import { MetricRegistry } from "../src/metrics/registry.ts";
import { systemClock } from "../src/util/clock.ts";

const RECORDS = 10_000;
const ROUNDS = process.argv.includes("--quick") ? 10 : 100;

function records(): ExchangeRecord[] {
  const exchanges = new Exchanges(systemClock);
  const statuses = [200, 200, 200, 200, 200, 201, 304, 404, 429, 502];
  return Array.from({ length: RECORDS }, (_, i) => {
    const tunnel = i % 10 === 9;
    const r = exchanges.begin(i % 3 ? "proxy" : "forward", "10.0.0.1", tunnel ? "CONNECT" : i % 4 ? "GET" : "POST", `h${i % 500}.example.com`, "/x", tunnel ? "tunnel" : "request");
    r.routeId = `route${i % 20}`;
    r.status = tunnel ? 200 : statuses[i % statuses.length]!;
    r.cause = r.status === 429 ? "rate-limited" : r.status === 502 ? "dial-failed" : undefined;
    r.destination = `h${i % 500}.example.com:443`;
    r.upstreamHeaders = r.start + (i % 50);
    r.end = r.start + (i % 50) + 3;
    r.bytesIn = 100;
    r.bytesOut = 1000;
    return r;
  });
}

/** The part of prom-client's API used here. */
interface PromClient {
  Registry: new () => { metrics(): Promise<string> };
  Counter: new (o: { name: string; help: string; labelNames: string[]; registers: unknown[] }) => { inc(labels: Record<string, string>, by?: number): void };
  Histogram: new (o: { name: string; help: string; labelNames: string[]; buckets: number[]; registers: unknown[] }) => { observe(labels: Record<string, string>, value: number): void };
}

/** The same observer as src/metrics/exchanges.ts, on prom-client. */
async function promClientObserver(): Promise<{ observe: ExchangeObserver; render: () => Promise<string> } | undefined> {
  // Not a dependency: named through a variable so the typecheck does not look for it.
  const name = "prom-client";
  const prom = (await import(name).catch(() => undefined)) as PromClient | undefined;
  if (!prom) return undefined;
  const registers = [new prom.Registry()];
  const requests = new prom.Counter({ name: "sallyport_requests_total", help: "h", labelNames: ["listener", "route", "method", "code"], registers });
  const errors = new prom.Counter({ name: "sallyport_request_errors_total", help: "h", labelNames: ["listener", "cause"], registers });
  const duration = new prom.Histogram({ name: "sallyport_request_duration_seconds", help: "h", labelNames: ["route"], buckets: DURATION_BUCKETS, registers });
  const upstream = new prom.Histogram({ name: "sallyport_upstream_duration_seconds", help: "h", labelNames: ["route"], buckets: DURATION_BUCKETS, registers });
  const destinations = new prom.Counter({ name: "sallyport_destination_requests_total", help: "h", labelNames: ["host", "outcome"], registers });
  const rejected = new prom.Counter({ name: "sallyport_ratelimit_rejections_total", help: "h", labelNames: ["route"], registers });
  const tunnelBytes = new prom.Counter({ name: "sallyport_tunnel_bytes_total", help: "h", labelNames: ["direction"], registers });
  const hosts = new HostLabels(1000);
  const observe: ExchangeObserver = (r) => {
    const route = r.routeId ?? "";
    requests.inc({ listener: r.listener, route, method: methodLabel(r.method), code: statusClass(r.status) });
    if (r.cause !== undefined) errors.inc({ listener: r.listener, cause: r.cause });
    if (r.cause === "rate-limited") rejected.inc({ route });
    if (r.destination !== undefined) destinations.inc({ host: hosts.label(r.destination), outcome: outcome(r) });
    if (r.kind === "tunnel") {
      tunnelBytes.inc({ direction: "up" }, r.bytesIn);
      tunnelBytes.inc({ direction: "down" }, r.bytesOut);
      return;
    }
    if (r.end !== undefined) duration.observe({ route }, (r.end - r.start) / 1000);
    if (r.upstreamHeaders !== undefined) upstream.observe({ route }, (r.upstreamHeaders - r.start) / 1000);
  };
  return { observe, render: () => registers[0]!.metrics() };
}

/** Ours: the observer createMetrics subscribes, on a registry of its own. */
function ourObserver(): { observe: ExchangeObserver; render: () => string } {
  const registry = new MetricRegistry();
  return { observe: exchangeMetrics(registry, new HostLabels(1000), new Exchanges(systemClock)), render: () => registry.render() };
}

function nsPerRecord(observe: ExchangeObserver, all: readonly ExchangeRecord[]): number {
  const round = () => {
    for (const r of all) observe(r);
  };
  for (let i = 0; i < 5; i++) round(); // warm up the JIT
  const start = Bun.nanoseconds();
  for (let i = 0; i < ROUNDS; i++) round();
  return (Bun.nanoseconds() - start) / (ROUNDS * all.length);
}

async function msPerScrape(render: () => string | Promise<string>): Promise<{ ms: number; bytes: number }> {
  let bytes = 0;
  for (let i = 0; i < 3; i++) bytes = (await render()).length;
  const start = Bun.nanoseconds();
  for (let i = 0; i < 20; i++) await render();
  return { ms: (Bun.nanoseconds() - start) / 20 / 1e6, bytes };
}

const all = records();
const none = nsPerRecord(() => {}, all);
const ours = ourObserver();
const oursNs = nsPerRecord(ours.observe, all);
const oursScrape = await msPerScrape(ours.render);
console.log(`${RECORDS} records × ${ROUNDS} rounds; empty observer ${none.toFixed(0)} ns/record (subtracted below)`);
console.log(`ours:        ${(oursNs - none).toFixed(0)} ns/record; scrape ${oursScrape.ms.toFixed(2)} ms (${oursScrape.bytes} bytes)`);
const prom = await promClientObserver();
if (!prom) {
  console.log("prom-client: not installed (npm install --no-save prom-client@15 to compare)");
} else {
  const promNs = nsPerRecord(prom.observe, all);
  const promScrape = await msPerScrape(prom.render);
  console.log(`prom-client: ${(promNs - none).toFixed(0)} ns/record; scrape ${promScrape.ms.toFixed(2)} ms (${promScrape.bytes} bytes)`);
}
