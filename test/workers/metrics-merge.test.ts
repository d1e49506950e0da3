/**
 * `-workers N`: the primary's one /metrics, merged from the workers' own. The texts are the
 * project's own scrapes (createMetrics on the fake clock, or a MetricRegistry for values the
 * proxy never has), merged, and read back by series; `promtool check metrics` must accept the
 * result (skipped when promtool is missing; CI installs it).
 */
import { afterEach, expect, test } from "bun:test";
import { REFUSED } from "../../src/circuit/breaker.ts";
import { BreakerRegistry } from "../../src/circuit/registry.ts";
import { breakerSettings } from "../../src/circuit/settings.ts";
import { Exchanges } from "../../src/exchange/record.ts";
import { createMetrics, type CertificateExpiry, type Metrics } from "../../src/metrics/index.ts";
import { MetricRegistry } from "../../src/metrics/registry.ts";
import { GAUGE_MERGE, mergeExpositions } from "../../src/workers/metrics-merge.ts";
import { FakeClock } from "../support/clock.ts";
import { sync } from "../support/sync.ts";

const started: Metrics[] = [];
afterEach(() => {
  for (const metrics of started.splice(0)) metrics.stop();
});

interface WorkerOptions {
  /** what the worker's Date.now says */
  unixMs?: number;
  lagIntervalMs?: number;
  /** hosts whose breaker is open (two failures), then hosts whose breaker is closed (one) */
  open?: readonly string[];
  closed?: readonly string[];
  listeners?: Record<string, number>;
  certificates?: readonly CertificateExpiry[];
  /** secret path → clock ms of its last good read */
  secrets?: Record<string, number>;
  /** -enable-tcp-queue: listener → connections waiting */
  waiting?: Record<string, number>;
}

/** One worker's metrics, as createMetrics makes them in the app, with the pieces a test drives. */
function worker(options: WorkerOptions = {}) {
  const clock = new FakeClock();
  const exchanges = new Exchanges(clock);
  const breakers = options.open || options.closed ? new BreakerRegistry({ entries: [breakerSettings({ type: "consecutive", failures: 2, timeout: 60_000 })], clock }) : undefined;
  const { listeners, certificates, secrets } = options;
  const metrics = createMetrics({
    clock,
    maxHosts: 100,
    exchanges,
    breakers,
    unixMs: () => options.unixMs ?? 1_700_000_000_000,
    lagIntervalMs: options.lagIntervalMs,
    openByListener: listeners && (() => new Map(Object.entries(listeners))),
    certificates: certificates && (() => certificates),
    secrets: secrets && { stats: { reloads: 1, errors: 0, lastRead: new Map(Object.entries(secrets)) } },
    responseBytesQueued: () => 0,
    admissions: options.waiting && new Map(Object.entries(options.waiting).map(([listener, waiting]) => [listener, { waiting, dropped: 0 }])),
  });
  started.push(metrics);
  const fail = (host: string) => {
    const breaker = breakers!.get(host);
    const ticket = sync(breaker.allow());
    expect(ticket).not.toBe(REFUSED);
    breaker.done(ticket, false);
  };
  for (const host of options.open ?? []) (fail(host), fail(host));
  for (const host of options.closed ?? []) fail(host);
  /** A request on `route` answered with `status` after `ms`. */
  const request = async (route: string, status: number, ms = 0) => {
    const record = exchanges.begin("proxy", "10.0.0.1", "GET", "a.example", "/", "request");
    record.routeId = route;
    record.status = status;
    await clock.advance(ms);
    exchanges.complete(record);
  };
  return { clock, exchanges, request, render: () => metrics.render() };
}

/** Every sample line of a text by series (name and label set as written) to its value as written. */
function series(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const at = line.lastIndexOf(" ");
    expect(out.has(line.slice(0, at))).toBe(false); // each series once
    out.set(line.slice(0, at), line.slice(at + 1));
  }
  return out;
}

const value = (text: string, key: string): number => {
  const written = series(text).get(key);
  if (written === undefined) throw new Error(`no series ${key} in:\n${text}`);
  return written === "+Inf" ? Infinity : written === "-Inf" ? -Infinity : Number(written);
};

/** The families in the order their TYPE lines come. */
const families = (text: string): string[] => [...text.matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1]!);

test("one worker's text comes back exactly as it was", async () => {
  const a = worker({ open: ["x:443"], listeners: { proxy: 2 }, certificates: [{ listener: "proxy", notAfter: 1_800_000_000_000 }], secrets: { "/run/s/token": 900_000 } });
  await a.request("api", 200, 30);
  const text = a.render();
  expect(mergeExpositions([text])).toBe(text);
  expect(mergeExpositions([])).toBe("");
});

test("counters are summed per series; a series only one worker has is kept as it is", async () => {
  const a = worker();
  const b = worker();
  for (let i = 0; i < 3; i++) await a.request("api", 200);
  for (let i = 0; i < 2; i++) await b.request("api", 204);
  await b.request("api", 503);
  const merged = mergeExpositions([a.render(), b.render()]);
  expect(value(merged, 'sallyport_requests_total{listener="proxy",route="api",method="GET",code="2xx"}')).toBe(5);
  expect(value(merged, 'sallyport_requests_total{listener="proxy",route="api",method="GET",code="5xx"}')).toBe(1);
  expect(series(merged).has('sallyport_requests_total{listener="proxy",route="api",method="GET",code="5xx"}')).toBe(true);
}, 5000);

test("histogram buckets, _sum and _count are summed", async () => {
  const a = worker();
  const b = worker();
  await a.request("api", 200, 3); // 0.003 s
  await a.request("api", 200, 200); // 0.2 s
  await b.request("api", 200, 3);
  await b.request("api", 200, 45_000); // 45 s
  const [ta, tb] = [a.render(), b.render()];
  const merged = mergeExpositions([ta, tb]);
  const buckets = [...series(ta).keys()].filter((k) => k.startsWith("sallyport_request_duration_seconds_bucket{"));
  expect(buckets.length).toBe(16);
  for (const bucket of buckets) expect(value(merged, bucket)).toBe(value(ta, bucket) + value(tb, bucket));
  expect(value(merged, 'sallyport_request_duration_seconds_bucket{route="api",le="0.005"}')).toBe(2);
  expect(value(merged, 'sallyport_request_duration_seconds_bucket{route="api",le="0.25"}')).toBe(3);
  expect(value(merged, 'sallyport_request_duration_seconds_bucket{route="api",le="30"}')).toBe(3);
  expect(value(merged, 'sallyport_request_duration_seconds_bucket{route="api",le="+Inf"}')).toBe(4);
  expect(value(merged, 'sallyport_request_duration_seconds_sum{route="api"}')).toBeCloseTo(0.003 + 0.2 + 0.003 + 45, 9);
  expect(value(merged, 'sallyport_request_duration_seconds_count{route="api"}')).toBe(4);
  // The lag histogram: a sample every 500 ms the clock moved, none in a (0.203 s), 90 in b (45.003 s).
  for (const key of [...series(ta).keys()].filter((k) => k.startsWith("sallyport_event_loop_lag_seconds"))) expect(value(merged, key)).toBe(value(ta, key) + value(tb, key));
  expect(value(merged, "sallyport_event_loop_lag_seconds_count")).toBe(90);
}, 5000);

test("what each worker holds is summed: memory, listeners' open, requests in flight, tunnels open", () => {
  const a = worker({ listeners: { proxy: 3, forward: 1 } });
  const b = worker({ listeners: { proxy: 4 } });
  a.exchanges.begin("proxy", "10.0.0.1", "GET", "a.example", "/");
  a.exchanges.begin("proxy", "10.0.0.1", "GET", "a.example", "/");
  b.exchanges.begin("proxy", "10.0.0.1", "GET", "a.example", "/");
  a.exchanges.begin("forward", "10.0.0.1", "CONNECT", "t.example:443", "", "tunnel");
  b.exchanges.begin("forward", "10.0.0.1", "CONNECT", "t.example:443", "", "tunnel");
  const [ta, tb] = [a.render(), b.render()];
  const merged = mergeExpositions([ta, tb]);
  for (const name of ["process_resident_memory_bytes", "sallyport_heap_used_bytes", "sallyport_heap_size_bytes"]) {
    expect(value(ta, name)).toBeGreaterThan(0);
    expect(value(merged, name)).toBe(value(ta, name) + value(tb, name));
  }
  expect(value(merged, 'sallyport_listener_open{listener="proxy"}')).toBe(7);
  expect(value(merged, 'sallyport_listener_open{listener="forward"}')).toBe(1);
  expect(value(merged, "sallyport_requests_in_flight")).toBe(3);
  expect(value(merged, "sallyport_tunnels_open")).toBe(2);
});

test("breaker states are counts, summed: open in any worker shows, and in how many", () => {
  // One breaker for a:443 in each of three workers, open in two; b:443 only in the third.
  const merged = mergeExpositions([worker({ open: ["a:443"] }).render(), worker({ open: ["a:443"] }).render(), worker({ closed: ["a:443", "b:443"] }).render()]);
  expect(value(merged, 'sallyport_circuit_breaker_state{host="a:443",state="open"}')).toBe(2);
  expect(value(merged, 'sallyport_circuit_breaker_state{host="a:443",state="closed"}')).toBe(1);
  expect(value(merged, 'sallyport_circuit_breaker_state{host="a:443",state="half-open"}')).toBe(0);
  expect(value(merged, 'sallyport_circuit_breaker_state{host="b:443",state="closed"}')).toBe(1);
  expect(value(merged, 'sallyport_circuit_breaker_transitions_total{host="a:443",from="closed",to="open"}')).toBe(2);
});

test("the start time is the oldest worker's", () => {
  const young = worker({ unixMs: 1_700_000_005_000 }).render();
  const old = worker({ unixMs: 1_700_000_000_000 }).render();
  expect(value(old, "process_start_time_seconds")).toBeLessThan(value(young, "process_start_time_seconds") - 4);
  expect(value(mergeExpositions([young, old]), "process_start_time_seconds")).toBe(value(old, "process_start_time_seconds"));
});

test("a certificate's expiry is the earliest any worker serves", () => {
  // The second worker has rotated to a new certificate, the first still serves the old one.
  const oldCert = worker({ certificates: [{ listener: "proxy", notAfter: 1_750_000_000_000 }] }).render();
  const newCert = worker({ certificates: [{ listener: "proxy", notAfter: 1_780_000_000_000 }] }).render();
  for (const texts of [[oldCert, newCert], [newCert, oldCert]]) {
    expect(value(mergeExpositions(texts), 'sallyport_tls_certificate_expiry_timestamp_seconds{listener="proxy"}')).toBe(1_750_000_000);
  }
});

test("a secret's last read is the stalest worker's; escaped label values still match", () => {
  // A path with a quote, a backslash and a line feed: the label set is written escaped, the same in both.
  const path = '/run/se"cr\\et\ns';
  const fresh = worker({ secrets: { [path]: 1_000_000, "/run/only-fresh": 1_000_000 } }).render(); // read now
  const stale = worker({ secrets: { [path]: 400_000 } }).render(); // read 600 s ago
  const key = 'sallyport_secrets_last_read_timestamp_seconds{path="/run/se\\"cr\\\\et\\ns"}';
  expect(series(fresh).has(key)).toBe(true);
  const merged = mergeExpositions([fresh, stale]);
  expect(value(merged, key)).toBe(1_700_000_000 - 600);
  expect(value(merged, 'sallyport_secrets_last_read_timestamp_seconds{path="/run/only-fresh"}')).toBe(1_700_000_000);
  expect(value(merged, "sallyport_secrets_reloads_total")).toBe(2);
});

test("a gauge the table does not list is summed", () => {
  const text = (n: number) => {
    const registry = new MetricRegistry();
    registry.collect("x_queue_length", "Queued things.", "gauge", [], (emit) => emit([], n));
    return registry.render();
  };
  expect(GAUGE_MERGE["x_queue_length"]).toBeUndefined();
  expect(value(mergeExpositions([text(2), text(5)]), "x_queue_length")).toBe(7);
});

test("every gauge src/metrics writes has its rule in the table, and the table lists no other", () => {
  const a = worker({ open: ["a:443"], listeners: { proxy: 1 }, certificates: [{ listener: "proxy", notAfter: 1 }], secrets: { "/s": 1 }, waiting: { proxy: 1 } });
  const gauges = [...a.render().matchAll(/^# TYPE (\S+) gauge$/gm)].map((m) => m[1]!);
  expect(gauges.sort()).toEqual(Object.keys(GAUGE_MERGE).sort());
});

test("HELP and TYPE come once per family, the first worker's", () => {
  const a = worker({ lagIntervalMs: 500 });
  const b = worker({ lagIntervalMs: 250 });
  const merged = mergeExpositions([a.render(), b.render(), b.render()]);
  for (const family of families(a.render())) {
    expect(merged.split("\n").filter((l) => l.startsWith(`# HELP ${family} `))).toHaveLength(1);
    expect(merged.split("\n").filter((l) => l.startsWith(`# TYPE ${family} `))).toHaveLength(1);
  }
  expect(merged).toContain("# HELP sallyport_event_loop_lag_seconds How late a timer due every 500 ms fired.\n");
  expect(merged).not.toContain("every 250 ms");
});

test("families keep the order they first appear in; a family only a later worker has comes after", () => {
  const plain = worker().render();
  const withBreakers = worker({ open: ["a:443"], listeners: { proxy: 1 } }).render();
  const merged = mergeExpositions([plain, withBreakers]);
  const extra = families(withBreakers).filter((f) => !families(plain).includes(f));
  expect(extra).toEqual(["sallyport_circuit_breaker_state", "sallyport_circuit_breaker_transitions_total", "sallyport_listener_open"]);
  expect(families(merged)).toEqual([...families(plain), ...extra]);
  // Within a family too: the series in the order first seen, each family's samples together.
  const again = mergeExpositions([withBreakers, plain]);
  expect(families(again)).toEqual(families(withBreakers));
  expect([...series(again).keys()]).toEqual([...series(withBreakers).keys()]);
});

test("+Inf, -Inf and NaN are read and written as src/metrics spells them", () => {
  const text = (values: Record<string, number>) => {
    const registry = new MetricRegistry();
    for (const [name, v] of Object.entries(values)) {
      const type = name.endsWith("_total") ? "counter" : "gauge";
      registry.collect(name, "Test.", type, [], (emit) => emit([], v));
    }
    return registry.render();
  };
  const a = text({ x_inf_total: Infinity, x_nan_total: NaN, x_neg_level: -Infinity, process_start_time_seconds: NaN, sallyport_tls_certificate_expiry_timestamp_seconds: 7 });
  const b = text({ x_inf_total: 1, x_nan_total: 1, x_neg_level: 3, process_start_time_seconds: 5, sallyport_tls_certificate_expiry_timestamp_seconds: Infinity });
  const merged = series(mergeExpositions([a, b]));
  expect(merged.get("x_inf_total")).toBe("+Inf");
  expect(merged.get("x_nan_total")).toBe("NaN"); // a sum with NaN is NaN
  expect(merged.get("x_neg_level")).toBe("-Inf");
  expect(merged.get("process_start_time_seconds")).toBe("5"); // min, as Prometheus's: NaN only if all are
  expect(merged.get("sallyport_tls_certificate_expiry_timestamp_seconds")).toBe("7");
  expect(series(mergeExpositions([a, a])).get("process_start_time_seconds")).toBe("NaN");
  // Other spellings Go's parser reads come out in the one spelling.
  expect(mergeExpositions(["y Inf\nz 1.5e3\nw -.5\n", "y 1\nz +2\nw +0.25\n"])).toBe("y +Inf\nz 1502\nw -0.25\n");
});

test("malformed lines are skipped, not thrown over; the rest is merged", () => {
  const good = "# HELP g_total Good.\n# TYPE g_total counter\ng_total{a=\"1\"} 2\n";
  const bad = [
    "garbage",
    "g_total",
    'g_total{a="1"}',
    'g_total{a="1"} abc',
    'g_total{a="1"} 1 2 3',
    'g_total{a="1"} 1 1.5',
    'g_total{a="1" 5',
    "g_total{a=1} 5",
    'g_total{a="\\q"} 5',
    'g_total{a="1} 5',
    'g_total{1a="1"} 5',
    'g_total{a="1"}5',
    "{} 5",
    "9lives 1",
    "# TYPE g_total",
    "# TYPE h_total bogus",
    "# HELP b_total bad \\escape",
    "# HELP",
    "#TYPE g_total gauge",
    "\u0000\uffff",
  ];
  const merged = mergeExpositions([good, bad.join("\n"), good, bad.join("\r\n") + "\r\n"]);
  expect(merged).toBe("# HELP g_total Good.\n# TYPE g_total counter\ng_total{a=\"1\"} 4\n");
  // Each alone, too: nothing comes of it, or only what it names (a bare HELP line of its own).
  for (const line of bad) expect(() => mergeExpositions([line])).not.toThrow();
  for (const line of bad) expect(mergeExpositions([good, line])).toBe(good);
});

test("timestamps, blanks around the value and CRLF line ends are read; the merged sample has no timestamp", () => {
  expect(mergeExpositions(['a_total{x="1"} 2 1700000000000\n', 'a_total{x="1"}\t3  -5 \n', '# HELP a_total A.\r\na_total{x="1"} 4\r\n'])).toBe('# HELP a_total A.\na_total{x="1"} 9\n');
});

test("samples without HELP or TYPE are untyped and summed; a histogram's samples find it after another family's header", () => {
  const hist = "# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 2\n# TYPE other gauge\nh_sum 3\nh_count 2\n";
  expect(mergeExpositions([hist, hist, "u 1\n", "u 2\n"])).toBe('# TYPE h histogram\nh_bucket{le="1"} 2\nh_bucket{le="+Inf"} 4\nh_sum 6\nh_count 4\n# TYPE other gauge\nu 3\n');
  // A sample named as a histogram family itself is none of its series.
  expect(mergeExpositions(["# TYPE h histogram\nh 1\n"])).toBe("# TYPE h histogram\n");
});

test("promtool check metrics accepts a merged text", async () => {
  const promtool = Bun.which("promtool");
  if (!promtool) {
    console.warn("skipped: promtool is not installed (Debian package prometheus; .ci/run installs it)");
    return;
  }
  const a = worker({ open: ["a:443"], listeners: { proxy: 2 }, certificates: [{ listener: "proxy", notAfter: 1_800_000_000_000 }], secrets: { '/run/se"cr\\et\ns': 900_000 } });
  const b = worker({ closed: ["a:443", "b:443"], listeners: { proxy: 1, forward: 3 }, secrets: { "/run/other": 1_000_000 } });
  await a.request("api", 200, 20);
  await b.request("api", 502, 1500);
  await b.request("other", 404, 1);
  const merged = mergeExpositions([a.render(), b.render(), "garbage line\n"]);
  const proc = Bun.spawn([promtool, "check", "metrics"], { stdin: new TextEncoder().encode(merged), stdout: "pipe", stderr: "pipe" });
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  expect(out + err).toBe("");
  expect(code).toBe(0);
}, 10_000);

test("a scrape's worth: 8 workers of 7000 series each (timing is for bench/, not asserted here)", () => {
  const texts = Array.from({ length: 8 }, (_, w) => {
    const registry = new MetricRegistry();
    const counter = registry.counter("x_requests_total", "Requests.", ["host", "code"]);
    const histogram = registry.histogram("x_duration_seconds", "Durations.", ["host"], [0.01, 0.1, 1]);
    for (let i = 0; i < 1000; i++) {
      counter.inc([`h${i}:443`, "2xx"], w + 1);
      histogram.observe([`h${i}:443`], i / 1000);
    }
    return registry.render();
  });
  expect(series(texts[0]!).size).toBe(7000);
  const merged = mergeExpositions(texts);
  expect(value(merged, 'x_requests_total{host="h7:443",code="2xx"}')).toBe(36);
  expect(value(merged, 'x_duration_seconds_count{host="h7:443"}')).toBe(8);
});
