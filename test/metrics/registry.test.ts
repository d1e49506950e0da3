/** Our registry in the Prometheus text format: headers, escaping, cumulative buckets, collected families. */
import { expect, test } from "bun:test";
import { MetricRegistry } from "../../src/metrics/registry.ts";
import { escapeLabel, formatValue } from "../../src/metrics/text.ts";
import { parseSamples, valueOf } from "./samples.ts";

test("a counter: HELP and TYPE, one line per label set, values added up", () => {
  const registry = new MetricRegistry();
  const c = registry.counter("x_requests_total", "Requests.\nSecond line \\ here.", ["route", "code"]);
  c.inc(["a", "2xx"]);
  c.inc(["a", "2xx"], 2);
  c.inc(["b", "5xx"]);
  expect(registry.render()).toBe(
    [
      "# HELP x_requests_total Requests.\\nSecond line \\\\ here.",
      "# TYPE x_requests_total counter",
      'x_requests_total{route="a",code="2xx"} 3',
      'x_requests_total{route="b",code="5xx"} 1',
      "",
    ].join("\n"),
  );
});

test("label values are escaped, so a value cannot end the label set or the line", () => {
  expect(escapeLabel('a"b\\c\nd')).toBe('a\\"b\\\\c\\nd');
  const registry = new MetricRegistry();
  registry.counter("x_total", "X.", ["v"]).inc(['"} 1\nevil_total 9']);
  const samples = parseSamples(registry.render());
  expect(samples).toEqual([{ name: "x_total", labels: { v: '"} 1\nevil_total 9' }, value: 1 }]);
});

test("label values that differ only where a joined key would blur them stay apart", () => {
  const registry = new MetricRegistry();
  const c = registry.counter("x_total", "X.", ["a", "b"]);
  c.inc(["a\0b", "c"]);
  c.inc(["a", "b\0c"]);
  expect(c.get(["a\0b", "c"])).toBe(1);
  expect(c.get(["a", "b\0c"])).toBe(1);
});

test("a histogram: cumulative buckets ending in +Inf, sum and count", () => {
  const registry = new MetricRegistry();
  const h = registry.histogram("x_seconds", "X.", ["route"], [0.1, 1]);
  for (const v of [0.05, 0.1, 0.5, 3]) h.observe(["r"], v);
  const text = registry.render();
  expect(text).toContain("# TYPE x_seconds histogram\n");
  expect(valueOf(text, "x_seconds_bucket", { le: "0.1" })).toBe(2);
  expect(valueOf(text, "x_seconds_bucket", { le: "1" })).toBe(3);
  expect(valueOf(text, "x_seconds_bucket", { le: "+Inf" })).toBe(4);
  expect(valueOf(text, "x_seconds_sum", { route: "r" })).toBeCloseTo(3.65);
  expect(valueOf(text, "x_seconds_count", { route: "r" })).toBe(4);
});

test("a collected family is read at every scrape", () => {
  const registry = new MetricRegistry();
  let open = 1;
  registry.collect("x_open", "Open.", "gauge", ["kind"], (emit) => emit(["a"], open));
  expect(valueOf(registry.render(), "x_open", { kind: "a" })).toBe(1);
  open = 5;
  expect(valueOf(registry.render(), "x_open", { kind: "a" })).toBe(5);
});

test("a name is registered once", () => {
  const registry = new MetricRegistry();
  registry.counter("x_total", "X.");
  expect(() => registry.collect("x_total", "X.", "counter", [], () => {})).toThrow("registered twice");
});

test("special values are spelled as Prometheus reads them", () => {
  expect([NaN, Infinity, -Infinity, 0.25, 3].map(formatValue)).toEqual(["NaN", "+Inf", "-Inf", "0.25", "3"]);
});
