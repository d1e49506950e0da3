/**
 * The exchange record in process over real sockets: created when a request arrives, completed
 * exactly once however the exchange ends, and only then handed to observers.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import type { Server } from "bun";
import { parse } from "../../src/eskip/index.ts";
import { Exchanges, type ExchangeRecord } from "../../src/exchange/record.ts";
import { createRegistry } from "../../src/util/registry.ts";
import { builtinFilters } from "../../src/filters/builtin.ts";
import type { FilterSpec } from "../../src/filters/types.ts";
import { builtinPredicateRegistry } from "../../src/predicates/builtin.ts";
import { createHandler } from "../../src/proxy/handler.ts";
import { buildTable } from "../../src/routing/build.ts";
import { NO_SECRETS } from "../../src/secrets/index.ts";
import { systemClock } from "../../src/util/clock.ts";

let upstream: Server<undefined>;
let proxyUrl: string;
const completions: ExchangeRecord[] = [];
const errors: string[] = [];

/** A filter whose request hook has a bug. */
const broken: FilterSpec = {
  name: "broken",
  create: () => ({
    request() {
      throw new TypeError("oops");
    },
  }),
};

beforeAll(() => {
  upstream = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch(req) {
      const path = new URL(req.url).pathname;
      if (path === "/endless") {
        return new Response(new ReadableStream({ async pull(c) { await Bun.sleep(5); c.enqueue(new Uint8Array(1024)); } }));
      }
      return new Response("hello", { status: path === "/teapot" ? 418 : 200 });
    },
  });
  const routes = parse(`
    broken: Path("/broken") -> broken() -> "http://UP";
    served: Path("/served") -> inlineContent("from a filter") -> <shunt>;
    limited: Path("/limited") -> clientRatelimit(1, "1h") -> inlineContent("once") -> <shunt>;
    gone: Path("/gone") -> "http://127.0.0.1:1";
    up: * -> "http://UP"`.replaceAll("UP", `127.0.0.1:${upstream.port}`));
  const table = buildTable(routes, { filters: createRegistry([...builtinFilters({ secrets: NO_SECRETS }), broken], "filter"), predicates: builtinPredicateRegistry() });
  expect(table.problems).toEqual([]);
  const exchanges = new Exchanges(systemClock);
  exchanges.subscribe((r) => completions.push(r));
  const handler = createHandler({
    table: () => table,
    defaultStatus: 404,
    maxLoopbacks: 9,
    preserveHost: false,
    upstream: { responseHeaderTimeout: 5000 },
    exchanges,
    log: { error: (m) => errors.push(m), warn: (m) => errors.push(m) },
  });
  const server = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: handler });
  proxyUrl = `http://127.0.0.1:${server.port}`;
  return () => server.stop(true);
});
afterAll(() => upstream.stop(true));

/** Waits until the exchange for `path` has completed, and checks it completed only once. */
async function completed(path: string): Promise<ExchangeRecord> {
  for (let i = 0; i < 200 && !completions.some((r) => r.path === path); i++) await Bun.sleep(5);
  const found = completions.filter((r) => r.path === path);
  expect(found).toHaveLength(1);
  return found[0]!;
}

test("a proxied response completes when its body has been passed on", async () => {
  const res = await fetch(`${proxyUrl}/teapot?api_key=secret`, { method: "POST", body: "12345" });
  expect(await res.text()).toBe("hello");
  const r = await completed("/teapot");
  expect(r).toMatchObject({ kind: "request", listener: "proxy", method: "POST", routeId: "up", status: 418, cause: undefined, destination: `127.0.0.1:${upstream.port}`, bytesIn: 5, bytesOut: 5, retries: 0 });
  expect(r.peer).toBe("127.0.0.1");
  expect(r.start <= r.upstreamHeaders! && r.upstreamHeaders! <= r.end!).toBe(true);
  // the query (which may carry credentials) is not in the record
  expect(JSON.stringify(r)).not.toContain("secret");
});

test("an error answer completes the record with its cause", async () => {
  expect((await fetch(`${proxyUrl}/gone`)).status).toBe(502);
  expect(await completed("/gone")).toMatchObject({ status: 502, cause: "dial-failed", routeId: "gone" });
});

test("an error a filter serves (a rate limit's 429) completes the record with its cause", async () => {
  await fetch(`${proxyUrl}/limited`);
  const res = await fetch(`${proxyUrl}/limited`);
  expect([res.status, res.headers.get("x-sallyport-error")]).toEqual([429, "rate-limited"]);
  const records = completions.filter((r) => r.path === "/limited");
  for (let i = 0; i < 100 && records.length < 2; i++) await Bun.sleep(5);
  expect(completions.filter((r) => r.path === "/limited").map((r) => [r.status, r.cause])).toEqual([[200, undefined], [429, "rate-limited"]]);
});

test("a filter that throws is an internal error: logged, 500, completed", async () => {
  const res = await fetch(`${proxyUrl}/broken`);
  expect([res.status, res.headers.get("x-sallyport-error")]).toEqual([500, "internal"]);
  expect(await completed("/broken")).toMatchObject({ status: 500, cause: "internal", routeId: "broken" });
  expect(errors.some((e) => e.includes("oops"))).toBe(true);
});

test("a response served by a filter", async () => {
  await (await fetch(`${proxyUrl}/served`)).text();
  expect(await completed("/served")).toMatchObject({ status: 200, routeId: "served", bytesOut: "from a filter".length, destination: undefined });
});

test("a client that leaves mid-body completes the record as client-gone", async () => {
  const abort = new AbortController();
  const res = await fetch(`${proxyUrl}/endless`, { signal: abort.signal });
  const reader = res.body!.getReader();
  await reader.read();
  abort.abort();
  const r = await completed("/endless");
  expect(r).toMatchObject({ status: 200, cause: "client-gone" });
  expect(r.bytesOut).toBeGreaterThan(0);
});

test("a request no route matches", async () => {
  const exchanges = new Exchanges(systemClock);
  const seen: ExchangeRecord[] = [];
  exchanges.subscribe((r) => seen.push(r));
  const table = buildTable([], { filters: createRegistry([], "filter"), predicates: builtinPredicateRegistry() });
  const server = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: createHandler({ table: () => table, defaultStatus: 404, maxLoopbacks: 9, preserveHost: false, upstream: { responseHeaderTimeout: 5000 }, exchanges }) });
  try {
    expect((await fetch(`http://127.0.0.1:${server.port}/nothing`)).status).toBe(404);
    expect(seen).toHaveLength(1);
    expect(seen[0]).toMatchObject({ status: 404, cause: "no-route", routeId: undefined });
  } finally {
    server.stop(true);
  }
});
