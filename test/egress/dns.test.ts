/**
 * The DNS cache against a DNS server of our own on 127.0.0.1 (test/support/dns.ts): families,
 * TTLs clamped and honoured on the fake clock, shared lookups, NXDOMAIN, timeouts, rebinding, and
 * single-label names asked as written (no search domains).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createResolver, type LookupFamily } from "../../src/egress/dns.ts";
import { ProxyError } from "../../src/exchange/errors.ts";
import { FakeClock } from "../support/clock.ts";
import { startTestDns, type TestDns } from "../support/dns.ts";

let server: TestDns;
beforeAll(async () => {
  server = await startTestDns();
});
afterAll(() => server.stop());

function resolver(over: { family?: LookupFamily; minTtl?: number; maxTtl?: number; timeout?: number } = {}) {
  const clock = new FakeClock();
  const r = createResolver({ servers: [server.address], family: over.family ?? "any", minTtl: over.minTtl ?? 0, maxTtl: over.maxTtl ?? 3_600_000, timeout: over.timeout ?? 5_000, clock });
  return { clock, r };
}

/** The wire queries for `name` since the call. */
const queriesFor = (name: string) => server.queries.filter((q) => q.startsWith(name + " "));

describe("families", () => {
  beforeAll(() => server.answer("both.test", { A: ["127.0.0.2", "127.0.0.3"], AAAA: ["::1"], ttl: 30 }));
  test.each<[LookupFamily, string[]]>([
    ["any", ["127.0.0.2", "127.0.0.3", "::1"]],
    ["v4", ["127.0.0.2", "127.0.0.3"]],
    ["v6", ["::1"]],
  ])("%s", async (family, addresses) => {
    expect((await resolver({ family }).r.resolve("both.test")).addresses).toEqual(addresses);
  });

  test("a family a name has no records of is dns-failed", async () => {
    server.answer("v4only.test", { A: ["127.0.0.5"] });
    const err = await resolver({ family: "v6" }).r.resolve("v4only.test").catch((e) => e);
    expect([err.status, err.reason]).toEqual([502, "dns-failed"]);
  });
});

describe("the cache", () => {
  test("an answer is kept for its TTL, then asked again", async () => {
    server.answer("ttl.test", { A: ["127.0.0.2"], ttl: 30 });
    const { clock, r } = resolver({ family: "v4" });
    expect(await r.resolve("ttl.test")).toEqual({ addresses: ["127.0.0.2"], ttl: 30_000, fromCache: false });
    await clock.advance(29_999);
    expect((await r.resolve("TTL.test.")).fromCache).toBe(true);
    expect(queriesFor("ttl.test")).toHaveLength(1);
    await clock.advance(1);
    expect((await r.resolve("ttl.test")).fromCache).toBe(false);
    expect(queriesFor("ttl.test")).toHaveLength(2);
  });

  test.each([
    [1, 5_000, 60_000, 5_000],
    [3_600, 5_000, 60_000, 60_000],
    [30, 5_000, 60_000, 30_000],
  ])("a TTL of %ps within -dns-min-ttl %p and -dns-max-ttl %p is kept %p ms", async (ttl, minTtl, maxTtl, kept) => {
    const name = `clamp${ttl}.test`;
    server.answer(name, { A: ["127.0.0.2"], ttl });
    expect((await resolver({ family: "v4", minTtl, maxTtl }).r.resolve(name)).ttl).toBe(kept);
  });

  test("concurrent lookups of one name share one query", async () => {
    server.answer("shared.test", { A: ["127.0.0.2"] });
    const { r } = resolver({ family: "v4" });
    const answers = await Promise.all(Array.from({ length: 20 }, () => r.resolve("shared.test")));
    expect(answers.every((a) => a.addresses[0] === "127.0.0.2")).toBe(true);
    expect(queriesFor("shared.test")).toHaveLength(1);
  });

  test("a name that rebinds is seen anew only after its TTL", async () => {
    server.answer("rebind.test", { A: ["127.0.0.2"], ttl: 1 });
    const { clock, r } = resolver({ family: "v4" });
    expect((await r.resolve("rebind.test")).addresses).toEqual(["127.0.0.2"]);
    server.answer("rebind.test", { A: ["127.0.0.3"], ttl: 1 });
    expect((await r.resolve("rebind.test")).addresses).toEqual(["127.0.0.2"]);
    await clock.advance(1_000);
    expect((await r.resolve("rebind.test")).addresses).toEqual(["127.0.0.3"]);
  });
});

describe("failures", () => {
  test("NXDOMAIN is 502 dns-failed", async () => {
    server.nxdomain("gone.test");
    const err = await resolver().r.resolve("gone.test").catch((e) => e);
    expect(err).toBeInstanceOf(ProxyError);
    expect([err.status, err.reason]).toEqual([502, "dns-failed"]);
  });

  test("no answer within -dns-timeout is 504 dns-timeout (on the clock)", async () => {
    server.silent("slow.test");
    const { clock, r } = resolver({ family: "v4", timeout: 2_000 });
    const pending = r.resolve("slow.test").catch((e) => e);
    await clock.advance(2_000);
    const err = await pending;
    expect([err.status, err.reason]).toEqual([504, "dns-timeout"]);
  });

  test.each(["127.0.0.1", "0177.1", "2130706433", "::1", "[::1]", "256.1.1.1"])("a numeric host %p is never handed to the resolver", async (host) => {
    const before = server.queries.length;
    expect(await resolver().r.resolve(host).catch((e) => e)).toBeInstanceOf(TypeError);
    expect(server.queries.length).toBe(before);
  });
});

describe("no search domains", () => {
  // Answers for the names a search list would make of `api` and `intranet`: asking them would show.
  beforeAll(() => {
    server.answer("api", { A: ["127.0.0.2"], AAAA: ["::1"] });
    for (const suffix of ["test", "corp.test", "localdomain"]) {
      server.answer(`api.${suffix}`, { A: ["127.0.0.7"] });
      server.answer(`intranet.${suffix}`, { A: ["127.0.0.7"] });
    }
    server.nxdomain("intranet");
  });

  /** The queries since `before` for `label` and any name that starts with it (`label.…`), sorted. */
  const about = (label: string, before: number) => server.queries.slice(before).filter((q) => q.startsWith(`${label} `) || q.startsWith(`${label}.`)).sort();

  test("a single-label name is asked exactly as written: `api` is one A and one AAAA query for `api`, nothing else", async () => {
    const before = server.queries.length;
    expect((await resolver().r.resolve("api")).addresses).toEqual(["127.0.0.2", "::1"]);
    expect(about("api", before)).toEqual(["api A", "api AAAA"]);
  });

  test("a single-label name that does not exist is 502 dns-failed, and no other name is tried in its place", async () => {
    const before = server.queries.length;
    const err = await resolver().r.resolve("intranet").catch((e) => e);
    expect([err.status, err.reason]).toEqual([502, "dns-failed"]);
    expect(about("intranet", before)).toEqual(["intranet A", "intranet AAAA"]);
  });
});

describe("localhost (RFC 6761 §6.3)", () => {
  beforeAll(() => server.answer("localhost", { A: ["127.0.0.9"], ttl: 30 }));
  test.each<[LookupFamily, string[]]>([
    ["any", ["127.0.0.1", "::1"]],
    ["v4", ["127.0.0.1"]],
    ["v6", ["::1"]],
  ])("localhost and names under it are the loopback without asking DNS (%s)", async (family, addresses) => {
    const before = server.queries.length;
    expect((await resolver({ family }).r.resolve("LOCALHOST.")).addresses).toEqual(addresses);
    expect((await resolver({ family }).r.resolve("api.localhost")).addresses).toEqual(addresses);
    expect(server.queries.length).toBe(before);
  });
});
