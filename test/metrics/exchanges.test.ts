/**
 * What completed exchanges add to /metrics, on the fake clock: counts by status class, durations,
 * per-destination outcomes with the host cap, tunnel bytes, and what is still in flight.
 */
import { afterEach, expect, test } from "bun:test";
import type { ErrorCause } from "../../src/exchange/errors.ts";
import { Exchanges, type ExchangeRecord } from "../../src/exchange/record.ts";
import { createMetrics, type Metrics } from "../../src/metrics/index.ts";
import { FakeClock } from "../support/clock.ts";
import { valueOf } from "./samples.ts";

let metrics: Metrics | undefined;
afterEach(() => metrics?.stop());

function setup(maxHosts = 1000) {
  const clock = new FakeClock();
  const exchanges = new Exchanges(clock);
  metrics = createMetrics({ clock, maxHosts, exchanges });
  return { clock, exchanges, scrape: () => metrics!.render() };
}

interface Done {
  kind?: ExchangeRecord["kind"];
  method?: string;
  route?: string;
  status?: number;
  cause?: ErrorCause;
  destination?: string;
  bytesIn?: number;
  bytesOut?: number;
}

function done(exchanges: Exchanges, d: Done): ExchangeRecord {
  const r = exchanges.begin("proxy", "10.0.0.1", d.method ?? "GET", "a.example", "/", d.kind ?? "request");
  r.routeId = d.route;
  r.status = d.status;
  r.cause = d.cause;
  r.destination = d.destination;
  r.bytesIn = d.bytesIn ?? 0;
  r.bytesOut = d.bytesOut ?? 0;
  exchanges.complete(r);
  return r;
}

test("requests by listener, route, method and status class", () => {
  const { exchanges, scrape } = setup();
  for (const status of [200, 204, 301, 404, 404, 502]) done(exchanges, { route: "api", status });
  done(exchanges, { route: "api", method: "BREW", status: 400 });
  done(exchanges, { status: 404, cause: "no-route" });
  const text = scrape();
  const count = (labels: Record<string, string>) => valueOf(text, "sallyport_requests_total", { listener: "proxy", ...labels });
  expect([count({ route: "api", code: "2xx" }), count({ route: "api", code: "3xx" }), count({ route: "api", code: "4xx" }), count({ route: "api", code: "5xx" })]).toEqual([2, 1, 3, 1]);
  expect(count({ route: "api", method: "other" })).toBe(1);
  expect(count({ route: "", code: "4xx" })).toBe(1);
  expect(valueOf(text, "sallyport_request_errors_total", { cause: "no-route" })).toBe(1);
});

test("request and upstream durations come from the record's clock readings", async () => {
  const { clock, exchanges, scrape } = setup();
  const r = exchanges.begin("proxy", "10.0.0.1", "GET", "a.example", "/");
  r.routeId = "api";
  r.status = 200;
  await clock.advance(30);
  r.upstreamHeaders = clock.now();
  await clock.advance(170);
  exchanges.complete(r);
  const text = scrape();
  expect(valueOf(text, "sallyport_request_duration_seconds_sum", { route: "api" })).toBeCloseTo(0.2);
  expect(valueOf(text, "sallyport_request_duration_seconds_bucket", { route: "api", le: "0.1" })).toBe(0);
  expect(valueOf(text, "sallyport_request_duration_seconds_bucket", { route: "api", le: "0.25" })).toBe(1);
  expect(valueOf(text, "sallyport_upstream_duration_seconds_sum", { route: "api" })).toBeCloseTo(0.03);
  expect(valueOf(text, "sallyport_upstream_duration_seconds_count", { route: "api" })).toBe(1);
});

test("per destination by outcome: a 5xx or a cause fails, a client that left cancels", () => {
  const { exchanges, scrape } = setup();
  const destination = "api.example:443";
  for (const status of [200, 404, 503]) done(exchanges, { destination, status });
  done(exchanges, { destination, status: 502, cause: "dial-failed" });
  done(exchanges, { destination, status: 200, cause: "client-gone" });
  const text = scrape();
  const outcome = (o: string) => valueOf(text, "sallyport_destination_requests_total", { host: destination, outcome: o });
  expect([outcome("success"), outcome("failure"), outcome("cancelled")]).toEqual([2, 2, 1]);
});

test('destinations beyond -metrics-max-hosts share host="other"; the first ones keep theirs', () => {
  const { exchanges, scrape } = setup(2);
  for (const host of ["a:443", "b:443", "c:443", "d:80", "a:443"]) done(exchanges, { destination: host, status: 200 });
  const text = scrape();
  const hosts = (name: string) => [...new Set(text.split("\n").filter((l) => l.startsWith(name)).map((l) => /host="([^"]*)"/.exec(l)![1]))];
  expect(hosts("sallyport_destination_requests_total").sort()).toEqual(["a:443", "b:443", "other"]);
  expect(valueOf(text, "sallyport_destination_requests_total", { host: "a:443" })).toBe(2);
  expect(valueOf(text, "sallyport_destination_requests_total", { host: "other" })).toBe(2);
});

test("tunnels: open while begun, bytes each way once closed, not in the latency histograms", () => {
  const { exchanges, scrape } = setup();
  const open = exchanges.begin("forward", "10.0.0.1", "CONNECT", "a.example:443", "", "tunnel");
  const request = exchanges.begin("proxy", "10.0.0.1", "GET", "a.example", "/");
  let text = scrape();
  expect(valueOf(text, "sallyport_tunnels_open")).toBe(1);
  expect(valueOf(text, "sallyport_requests_in_flight")).toBe(1);
  expect(valueOf(text, "sallyport_tunnel_bytes_total", { direction: "up" })).toBe(0);
  open.status = 200;
  open.bytesIn = 1234;
  open.bytesOut = 56789;
  exchanges.complete(open);
  done(exchanges, { kind: "tunnel", method: "CONNECT", status: 200, bytesIn: 1, bytesOut: 2 });
  text = scrape();
  expect(valueOf(text, "sallyport_tunnels_open")).toBe(0);
  expect(valueOf(text, "sallyport_tunnel_bytes_total", { direction: "up" })).toBe(1235);
  expect(valueOf(text, "sallyport_tunnel_bytes_total", { direction: "down" })).toBe(56791);
  expect(valueOf(text, "sallyport_requests_total", { method: "CONNECT", code: "2xx" })).toBe(2);
  expect(valueOf(text, "sallyport_request_duration_seconds_count")).toBe(0);
  exchanges.complete(request);
  expect(valueOf(scrape(), "sallyport_requests_in_flight")).toBe(0);
});

test("stop() unsubscribes: later exchanges are not counted", () => {
  const { exchanges, scrape } = setup();
  done(exchanges, { status: 200 });
  metrics!.stop();
  done(exchanges, { status: 200 });
  expect(valueOf(scrape(), "sallyport_requests_total")).toBe(1);
});
