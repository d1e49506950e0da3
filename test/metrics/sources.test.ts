/**
 * Counts read at scrape time from their owners: the DNS cache (against the test DNS server), the
 * secrets store (real temp files, fake timers), rate limits, egress decisions, retries; and the
 * process.
 */
import { Unsent } from "../../src/exchange/unsent.ts";
import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { createResolver } from "../../src/egress/dns.ts";
import { Exchanges } from "../../src/exchange/record.ts";
import type { RequestState } from "../../src/exchange/state.ts";
import { createMetrics, type Metrics, type MetricsOptions } from "../../src/metrics/index.ts";
import { createRequestLimit } from "../../src/ratelimit/global.ts";
import { LimiterRegistry } from "../../src/ratelimit/registry.ts";
import type { Clock, Timer } from "../../src/util/clock.ts";
import { FakeClock } from "../support/clock.ts";
import { startTestDns, type TestDns } from "../support/dns.ts";
import { openStore, tempDir } from "../secrets/helpers.ts";
import { valueOf } from "./samples.ts";
import { sync } from "../support/sync.ts";

let metrics: Metrics | undefined;
afterEach(() => metrics?.stop());

function scrapeOf(options: Partial<MetricsOptions> & { clock?: Clock } = {}): () => string {
  const clock = options.clock ?? new FakeClock();
  metrics = createMetrics({ maxHosts: 10, exchanges: new Exchanges(clock), ...options, clock });
  return () => metrics!.render();
}

describe("DNS", () => {
  let server: TestDns;
  beforeAll(async () => {
    server = await startTestDns();
  });
  afterAll(() => server.stop());

  test("lookups, cache hits, queries, failures and timeouts", async () => {
    server.answer("ok.test", { A: ["127.0.0.2"], ttl: 60 });
    server.nxdomain("gone.test");
    server.silent("slow.test");
    const clock = new FakeClock();
    const dns = createResolver({ servers: [server.address], family: "v4", minTtl: 0, maxTtl: 3_600_000, timeout: 1000, clock });
    const scrape = scrapeOf({ clock, dns });
    await Promise.all([dns.resolve("ok.test"), dns.resolve("ok.test")]); // one query shared
    await dns.resolve("ok.test"); // from the cache
    await dns.resolve("localhost");
    await dns.resolve("gone.test").catch(() => {});
    const slow = dns.resolve("slow.test").catch((e) => e);
    await clock.advance(1000);
    expect((await slow).reason).toBe("dns-timeout");
    const text = scrape();
    expect(valueOf(text, "sallyport_dns_lookups_total")).toBe(6);
    expect(valueOf(text, "sallyport_dns_cache_hits_total")).toBe(2);
    expect(valueOf(text, "sallyport_dns_queries_total")).toBe(3);
    expect(valueOf(text, "sallyport_dns_failures_total")).toBe(1);
    expect(valueOf(text, "sallyport_dns_timeouts_total")).toBe(1);
  });
});

describe("secrets", () => {
  test("reloads, read errors, and the last good read per path — never a value", async () => {
    await using dir = await tempDir();
    const good = join(dir.path, "token");
    const bad = join(dir.path, "broken");
    await writeFile(good, "s3cr3t-value\n");
    await writeFile(bad, "");
    using s = await openStore([dir.path]);
    const unixAtStart = 1_700_000_000_000;
    // The store's clock starts at 0; the wall clock says unixAtStart at that moment, then moves with it.
    const scrape = scrapeOf({ clock: s.timers, secrets: s.store, unixMs: () => unixAtStart + s.timers.now() });
    let text = scrape();
    expect(valueOf(text, "sallyport_secrets_reloads_total")).toBe(1);
    expect(valueOf(text, "sallyport_secrets_read_errors_total")).toBe(1); // the empty file
    expect(valueOf(text, "sallyport_secrets_last_read_timestamp_seconds", { path: good })).toBe(unixAtStart / 1000);
    expect(text).not.toContain(`path="${bad}"`);
    // Ten seconds on, the next tick: the good file turned invalid keeps the time it was last good.
    await writeFile(good, "s3cr3t\x01broken");
    await writeFile(join(dir.path, "new"), "n3w-value");
    await s.timers.advance(10_000);
    expect(s.value(good)).toBe("invalid");
    text = scrape();
    expect(valueOf(text, "sallyport_secrets_reloads_total")).toBe(2);
    expect(valueOf(text, "sallyport_secrets_read_errors_total")).toBe(3);
    expect(valueOf(text, "sallyport_secrets_last_read_timestamp_seconds", { path: good })).toBe(unixAtStart / 1000);
    expect(valueOf(text, "sallyport_secrets_last_read_timestamp_seconds", { path: join(dir.path, "new") })).toBe((unixAtStart + 10_000) / 1000);
    // A removed file's series goes.
    await rm(good);
    await s.timers.advance(10_000);
    text = scrape();
    expect(text).not.toContain(`path="${good}"`);
    expect(text).not.toContain("s3cr3t");
    expect(text).not.toContain("n3w-value");
  });
});

test("rate-limit rejections: the filters' by kind, across a reload that drops the limiter, and the global limit's", () => {
  const clock = new FakeClock();
  const ratelimits = new LimiterRegistry(clock);
  const requestLimit = createRequestLimit({ type: "service", maxHits: 1, timeWindow: 60_000, group: "" }, clock);
  const scrape = scrapeOf({ clock, ratelimits, requestLimit });
  const service = ratelimits.acquire("service", 1, 60_000);
  expect([service.take("s"), service.take("s"), service.take("s")].map((wait) => sync(wait) > 0)).toEqual([false, true, true]);
  ratelimits.release("service", 1, 60_000); // the last route using it is gone
  const client = ratelimits.acquire("client x-tenant", 1, 60_000);
  expect([client.take("a"), client.take("a"), client.take("b")].map((wait) => sync(wait) > 0)).toEqual([false, true, false]);
  const state = { headers: new Headers(), peer: "10.0.0.1" } as unknown as RequestState;
  expect([requestLimit.check(state, new Unsent()), requestLimit.check(state, new Unsent())].map((h) => h !== undefined)).toEqual([false, true]);
  const text = scrape();
  expect(valueOf(text, "sallyport_ratelimit_rejections_total", { limit: "service" })).toBe(2);
  expect(valueOf(text, "sallyport_ratelimit_rejections_total", { limit: "client" })).toBe(1);
  expect(valueOf(text, "sallyport_ratelimit_rejections_total", { limit: "global" })).toBe(1);
});

test("egress decisions by reason and retries, read from their owners at each scrape", () => {
  const decisions = new Map([["allow-rule", 3]]);
  let retries = 2;
  const scrape = scrapeOf({ egressDecisions: decisions, retries: () => retries });
  decisions.set("private-address", 1);
  retries = 5;
  const text = scrape();
  expect(valueOf(text, "sallyport_egress_decisions_total", { reason: "allow-rule" })).toBe(3);
  expect(valueOf(text, "sallyport_egress_decisions_total", { reason: "private-address" })).toBe(1);
  expect(valueOf(text, "sallyport_retries_total")).toBe(5);
});

describe("the process", () => {
  /** A clock whose timers fire only when the test says, as late as it says. */
  class LateClock implements Clock {
    time = 0;
    due: (() => void | Promise<unknown>) | undefined;
    now = () => this.time;
    setTimeout(callback: () => void | Promise<unknown>): Timer {
      this.due = callback;
      return { cancel: () => void (this.due = undefined) };
    }
    sleep = () => Promise.resolve();
    fire(at: number) {
      this.time = at;
      void this.due!();
    }
  }

  test("event-loop lag: how late the sampling timer fired", () => {
    const clock = new LateClock();
    const scrape = scrapeOf({ clock, lagIntervalMs: 500 });
    clock.fire(500); // on time
    clock.fire(1000 + 120); // 120 ms late
    const text = scrape();
    expect(valueOf(text, "sallyport_event_loop_lag_seconds_count")).toBe(2);
    expect(valueOf(text, "sallyport_event_loop_lag_seconds_sum")).toBeCloseTo(0.12);
    expect(valueOf(text, "sallyport_event_loop_lag_seconds_bucket", { le: "0.1" })).toBe(1);
    metrics!.stop();
    expect(clock.due).toBeUndefined();
  });

  test("memory, start time, what each listener has open, and the certificate hook when given", () => {
    const scrape = scrapeOf({ openByListener: () => new Map([["proxy", 7], ["forward", 2]]), certificates: () => [{ listener: "proxy", notAfter: 1_800_000_000_000 }] });
    const text = scrape();
    expect(valueOf(text, "process_resident_memory_bytes")).toBeGreaterThan(1 << 20);
    expect(valueOf(text, "sallyport_heap_used_bytes")).toBeGreaterThan(0);
    expect(valueOf(text, "process_start_time_seconds")).toBeGreaterThan(1_600_000_000);
    expect(valueOf(text, "sallyport_listener_open", { listener: "proxy" })).toBe(7);
    expect(valueOf(text, "sallyport_listener_open", { listener: "forward" })).toBe(2);
    expect(valueOf(text, "sallyport_tls_certificate_expiry_timestamp_seconds", { listener: "proxy" })).toBe(1_800_000_000);
    metrics!.stop();
    expect(scrapeOf()()).not.toContain("sallyport_tls_certificate_expiry");
  });
});
