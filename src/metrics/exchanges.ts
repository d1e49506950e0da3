/**
 * @module
 * What every completed exchange adds to the metrics: the one observer on the request path, so it
 * does a few map lookups and additions and nothing else (bench/metrics.ts keeps it honest).
 * Everything comes from the exchange record; labels only through ./labels.ts.
 *
 * A tunnel counts as a CONNECT request when it ends, its bytes with it: a tunnel still open has
 * moved bytes that show only once it closes. Its lifetime is not a latency, so the duration
 * histograms are for requests only.
 */
import type { ExchangeObserver, ExchangeRecord, Exchanges } from "../exchange/record.ts";
import { methodLabel, statusClass, type HostLabels } from "./labels.ts";
import type { MetricRegistry } from "./registry.ts";

/** Seconds, 1 ms to 1 min: proxy overhead at the bottom, slow backends and timeouts at the top. */
export const DURATION_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

/** How a destination's exchange ended, for its success rate. */
export function outcome(record: Readonly<ExchangeRecord>): "success" | "failure" | "cancelled" {
  if (record.cause === "client-gone") return "cancelled";
  return record.cause === undefined && record.status !== undefined && record.status < 500 ? "success" : "failure";
}

export function exchangeMetrics(registry: MetricRegistry, hosts: HostLabels, exchanges: Exchanges): ExchangeObserver {
  const requests = registry.counter("sallyport_requests_total", "Completed requests (tunnels as CONNECT) by listener, route id, method and status class.", ["listener", "route", "method", "code"]);
  const errors = registry.counter("sallyport_request_errors_total", "Requests sallyport answered for, or whose response ended early, by cause (the X-Sallyport-Error value).", ["listener", "cause"]);
  const duration = registry.histogram("sallyport_request_duration_seconds", "From request arrival to the last response byte sent, by route id.", ["route"], DURATION_BUCKETS);
  const upstream = registry.histogram("sallyport_upstream_duration_seconds", "From request arrival to the backend's response headers, by route id.", ["route"], DURATION_BUCKETS);
  const destinations = registry.counter("sallyport_destination_requests_total", "Requests and tunnels by destination host:port and outcome (success, failure, cancelled); hosts beyond -metrics-max-hosts are host=\"other\".", ["host", "outcome"]);
  const tunnelBytes = registry.counter("sallyport_tunnel_bytes_total", "Bytes through closed CONNECT tunnels: up is client to target, down is target to client.", ["direction"]);
  tunnelBytes.inc(["up"], 0);
  tunnelBytes.inc(["down"], 0);
  registry.collect("sallyport_requests_in_flight", "Requests begun and not yet completed.", "gauge", [], (emit) => emit([], exchanges.open("request")));
  registry.collect("sallyport_tunnels_open", "CONNECT tunnels begun and not yet closed.", "gauge", [], (emit) => emit([], exchanges.open("tunnel")));

  return (record) => {
    const route = record.routeId ?? "";
    requests.inc([record.listener, route, methodLabel(record.method), statusClass(record.status)]);
    if (record.cause !== undefined) errors.inc([record.listener, record.cause]);
    if (record.destination !== undefined) destinations.inc([hosts.label(record.destination), outcome(record)]);
    if (record.kind === "tunnel") {
      tunnelBytes.inc(["up"], record.bytesIn);
      tunnelBytes.inc(["down"], record.bytesOut);
      return;
    }
    if (record.end !== undefined) duration.observe([route], (record.end - record.start) / 1000);
    if (record.upstreamHeaders !== undefined) upstream.observe([route], (record.upstreamHeaders - record.start) / 1000);
  };
}
