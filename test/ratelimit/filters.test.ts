/** ratelimit and clientRatelimit as filters: what they serve, which bucket a request counts in. */
import { describe, expect, test } from "bun:test";
import type { Arg } from "../../src/eskip/ast.ts";
import { ratelimitFilters } from "../../src/filters/ratelimit.ts";
import type { Filter } from "../../src/filters/types.ts";
import { LimiterRegistry } from "../../src/ratelimit/registry.ts";
import { FakeClock } from "../support/clock.ts";
import { makeContext } from "../filters/helpers.ts";

function setup() {
  const clock = new FakeClock();
  const registry = new LimiterRegistry(clock);
  const specs = new Map(ratelimitFilters(registry).map((s) => [s.name, s]));
  const create = (name: string, ...args: Arg[]): Filter => specs.get(name)!.create(args);
  return { clock, registry, create };
}

/** Runs the request hook for a client; returns what the filter served, if anything. */
async function hit(filter: Filter, headers: Record<string, string> = {}, peer = "127.0.0.1") {
  const ctx = makeContext({ headers: new Headers(headers), peer });
  await filter.request?.(ctx);
  return ctx.served;
}

describe("ratelimit", () => {
  test("max requests per window pass; the next gets 429 with X-Rate-Limit and Retry-After", async () => {
    const { create, clock } = setup();
    const f = create("ratelimit", 2, "1s");
    expect(await hit(f)).toBeUndefined();
    clock.advance(200);
    expect(await hit(f, {}, "10.0.0.1")).toBeUndefined();
    const served = await hit(f, {}, "10.0.0.2");
    expect(served?.status).toBe(429);
    expect(served?.headers.get("x-rate-limit")).toBe("7200");
    expect(served?.headers.get("retry-after")).toBe("1");
    expect(served?.headers.get("x-sallyport-error")).toBe("rate-limited");
    clock.advance(800);
    expect(await hit(f)).toBeUndefined();
  });

  test("a number window is seconds (Skipper), and the status argument is used", async () => {
    const { create, clock } = setup();
    const f = create("ratelimit", 1, 60, 503);
    await hit(f);
    clock.advance(59_000);
    const served = await hit(f);
    expect(served?.status).toBe(503);
    expect(served?.headers.get("retry-after")).toBe("1");
    expect(served?.headers.get("x-rate-limit")).toBe("60");
  });

  test("routes with equal settings share one limiter; close gives it back", async () => {
    const { create, registry } = setup();
    const a = create("ratelimit", 1, "1m");
    const b = create("ratelimit", 1, "1m");
    const other = create("ratelimit", 2, "1m");
    expect(registry.size).toBe(2);
    await hit(a);
    expect((await hit(b))?.status).toBe(429);
    expect(await hit(other)).toBeUndefined();
    a.close?.();
    a.close?.();
    expect(registry.size).toBe(2);
    b.close?.();
    other.close?.();
    expect(registry.size).toBe(0);
  });
});

describe("clientRatelimit", () => {
  test("per client: the first X-Forwarded-For address, else the peer", async () => {
    const { create } = setup();
    const f = create("clientRatelimit", 1, "1h");
    expect(await hit(f, { "x-forwarded-for": "10.0.0.1, 192.168.0.1" })).toBeUndefined();
    expect((await hit(f, { "x-forwarded-for": "10.0.0.1" }))?.status).toBe(429);
    expect(await hit(f, { "x-forwarded-for": "10.0.0.2, 10.0.0.1" })).toBeUndefined();
    expect(await hit(f, {}, "10.0.0.3")).toBeUndefined();
    expect((await hit(f, {}, "10.0.0.3"))?.status).toBe(429);
  });

  test("by key headers, joined; a request without them is not limited", async () => {
    const { create } = setup();
    const f = create("clientRatelimit", 1, "1h", "Authorization, X-Tenant");
    expect(await hit(f, { authorization: "t1", "x-tenant": "a" })).toBeUndefined();
    expect((await hit(f, { authorization: "t1", "x-tenant": "a" }))?.status).toBe(429);
    expect(await hit(f, { authorization: "t1", "x-tenant": "b" })).toBeUndefined();
    expect(await hit(f, {})).toBeUndefined();
    expect(await hit(f, {})).toBeUndefined();
  });

  test("a request that turns out unsent gives its own client's slot back; a refused one has none to give", async () => {
    const { create } = setup();
    const f = create("clientRatelimit", 1, "1h");
    const unsent = makeContext({ peer: "10.0.0.1" });
    await f.request?.(unsent);
    const refused = makeContext({ peer: "10.0.0.1" });
    await f.request?.(refused);
    expect(refused.served?.status).toBe(429);
    refused.unsent.giveBack();
    expect((await hit(f, {}, "10.0.0.1"))?.status).toBe(429);
    expect(await hit(f, {}, "10.0.0.2")).toBeUndefined();
    unsent.unsent.giveBack();
    expect((await hit(f, {}, "10.0.0.2"))?.status).toBe(429);
    expect(await hit(f, {}, "10.0.0.1")).toBeUndefined();
  });

  test("clientRatelimit and ratelimit with the same numbers do not share buckets", async () => {
    const { create, registry } = setup();
    create("clientRatelimit", 1, "1m");
    create("clientRatelimit", 1, "1m", "Authorization");
    create("ratelimit", 1, "1m");
    expect(registry.size).toBe(3);
  });
});

test.each([
  ["ratelimit", [10], /ratelimit: expects 2 or 3 arguments, got 1/],
  ["ratelimit", [-1, "1s"], /ratelimit: argument 1 \(max hits\) must not be negative/],
  ["ratelimit", [1.5, "1s"], /argument 1 \(max hits\) must be an integer/],
  ["ratelimit", [10, "10"], /argument 2 \(time window\) must be a duration/],
  ["ratelimit", [10, 0], /argument 2 \(time window\) must be a positive duration/],
  ["ratelimit", [10, "1s", 99], /argument 3 \(status\) must be an HTTP status/],
  ["clientRatelimit", [10, "1s", 5], /clientRatelimit: argument 3 \(key headers\) must be a string/],
] as [string, Arg[], RegExp][])("%s(%j) is refused", (name, args, message) => {
  const { create } = setup();
  expect(() => create(name, ...args)).toThrow(message);
});
