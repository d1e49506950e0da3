/**
 * Breakers, retries and the global rate limit in the real pipeline, over real sockets: breakers
 * keyed by the actual destination for <dynamic> and load-balanced routes too.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { Server } from "bun";
import { builtinRegistries } from "../../src/routing/registries.ts";
import { BreakerRegistry } from "../../src/circuit/registry.ts";
import { parse } from "../../src/eskip/index.ts";
import { createHandler, type ProxyOptions } from "../../src/proxy/handler.ts";
import { createRequestLimit } from "../../src/ratelimit/global.ts";
import { buildTable } from "../../src/routing/build.ts";
import { FakeClock } from "../support/clock.ts";

/** An upstream answering with the status in its path (`/500`), counting the requests it saw. */
function statusServer() {
  const seen: string[] = [];
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch(req) {
      const path = new URL(req.url).pathname;
      seen.push(path);
      const status = Number(path.slice(1)) || 200;
      return new Response(String(status), { status });
    },
  });
  return { server, seen, host: `127.0.0.1:${server.port}` };
}

let a: ReturnType<typeof statusServer>;
let b: ReturnType<typeof statusServer>;
const proxies: Server<undefined>[] = [];

beforeAll(() => {
  a = statusServer();
  b = statusServer();
});
afterAll(() => {
  a.server.stop(true);
  b.server.stop(true);
  for (const p of proxies) p.stop(true);
});

function proxy(routes: string, options: Partial<ProxyOptions> = {}): string {
  const table = buildTable(parse(routes.replaceAll("UP_A", a.host).replaceAll("UP_B", b.host)), builtinRegistries());
  expect(table.problems).toEqual([]);
  const handler = createHandler({ table: () => table, defaultStatus: 404, maxLoopbacks: 9, preserveHost: false, upstream: { responseHeaderTimeout: 5000 }, ...options });
  const server = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: handler });
  proxies.push(server);
  return `http://127.0.0.1:${server.port}`;
}

describe("breakers per destination", () => {
  test("<dynamic>: the breaker belongs to the host the request went to", async () => {
    const url = proxy(`r: * -> consecutiveBreaker(1, "1h") -> <dynamic>`);
    const before = a.seen.length;
    expect((await fetch(url + "/500", { headers: { host: a.host } })).status).toBe(500);
    const open = await fetch(url + "/200", { headers: { host: a.host } });
    expect(open.status).toBe(503);
    expect(open.headers.get("x-circuit-open")).toBe("true");
    expect(open.headers.get("x-sallyport-error")).toBe("circuit-open");
    expect(a.seen.length - before).toBe(1);
    expect((await fetch(url + "/200", { headers: { host: b.host } })).status).toBe(200);
  });

  test("load-balanced: one endpoint's open breaker leaves the others serving", async () => {
    const url = proxy(`r: * -> consecutiveBreaker(1, "1h") -> <roundRobin, "http://UP_A", "http://UP_B">`);
    const before = { a: a.seen.length, b: b.seen.length };
    const answers: string[] = [];
    for (let i = 0; i < 6; i++) {
      const res = await fetch(url + "/503");
      answers.push(`${res.status} ${res.headers.get("x-sallyport-error") ?? "upstream"}`);
    }
    // each endpoint failed once and opened; the rest were refused without reaching them
    expect(a.seen.length - before.a).toBe(1);
    expect(b.seen.length - before.b).toBe(1);
    expect(answers.toSorted()).toEqual(["503 circuit-open", "503 circuit-open", "503 circuit-open", "503 circuit-open", "503 upstream", "503 upstream"]);
  });

  test("a -breaker host entry applies to a network backend, keyed host:port", async () => {
    const breakers = new BreakerRegistry({ entries: [], clock: new FakeClock() });
    const hostOnly = new BreakerRegistry({
      entries: [{ type: "consecutive", host: b.host, window: 0, failures: 2, timeout: 0, halfOpenRequests: 0, idleTTL: 0 }],
      clock: new FakeClock(),
    });
    const plain = proxy(`r: * -> "http://UP_B"`, { breakers });
    const guarded = proxy(`r: * -> "http://UP_B"`, { breakers: hostOnly });
    for (let i = 0; i < 3; i++) expect((await fetch(plain + "/500")).status).toBe(500);
    expect((await fetch(guarded + "/500")).status).toBe(500);
    expect((await fetch(guarded + "/500")).status).toBe(500);
    const open = await fetch(guarded + "/200");
    expect([open.status, open.headers.get("x-sallyport-error")]).toEqual([503, "circuit-open"]);
    const unguarded = await fetch(plain + "/200");
    expect([unguarded.status, unguarded.headers.get("x-sallyport-error")]).toEqual([200, null]);
  });

  test("4xx never opens a breaker", async () => {
    const url = proxy(`r: * -> consecutiveBreaker(1) -> <dynamic>`);
    for (let i = 0; i < 3; i++) expect((await fetch(url + "/404", { headers: { host: b.host } })).status).toBe(404);
  });
});

test("retry(): a listed status is tried again", async () => {
  let calls = 0;
  const flaky = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response("x", { status: ++calls === 1 ? 503 : 200 }) });
  try {
    const stats = { retries: 0 };
    const url = proxy(`r: * -> retry(3, "503", "10ms") -> "http://127.0.0.1:${flaky.port}"`, { retryStats: stats, clock: new FakeClock(true) });
    expect((await fetch(url + "/")).status).toBe(200);
    expect(calls).toBe(2);
    expect(stats.retries).toBe(1);
    // a POST is not replayed
    calls = 0;
    expect((await fetch(url + "/", { method: "POST", body: "x" })).status).toBe(503);
    expect(calls).toBe(1);
  } finally {
    flaky.stop(true);
  }
});

test("the global -ratelimits limit answers before routing", async () => {
  const clock = new FakeClock();
  const requestLimit = createRequestLimit({ type: "client", maxHits: 1, timeWindow: 60_000, group: "" }, clock);
  const url = proxy(`r: Path("/known") -> <shunt>`, { requestLimit });
  expect((await fetch(url + "/nowhere", { headers: { "x-forwarded-for": "10.1.1.1" } })).status).toBe(404);
  const limited = await fetch(url + "/known", { headers: { "x-forwarded-for": "10.1.1.1" } });
  expect(limited.status).toBe(429);
  expect(limited.headers.get("retry-after")).toBe("60");
  expect(limited.headers.get("x-rate-limit")).toBe("60");
  expect(await limited.text()).toBe("Too Many Requests\n");
  expect((await fetch(url + "/known", { headers: { "x-forwarded-for": "10.1.1.2" } })).status).toBe(404);
});
