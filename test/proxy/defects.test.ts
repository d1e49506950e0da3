/**
 * Defects found when the routing proxy was attacked as a hostile client would, in process over
 * real sockets: each row failed before its fix.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { Server } from "bun";
import { BreakerRegistry } from "../../src/circuit/registry.ts";
import { parse } from "../../src/eskip/index.ts";
import { Exchanges, type ExchangeRecord } from "../../src/exchange/record.ts";
import { createHandler, type ProxyOptions } from "../../src/proxy/handler.ts";
import { createRequestLimit } from "../../src/ratelimit/global.ts";
import { buildTable } from "../../src/routing/build.ts";
import { builtinRegistries } from "../../src/routing/registries.ts";
import { systemClock } from "../../src/util/clock.ts";
import { rawRequest } from "../support/raw.ts";
import { echoServer, type Echo } from "../support/upstream.ts";

let upstream: Server<undefined>;
const servers: { stop(force?: boolean): unknown }[] = [];

beforeAll(() => {
  upstream = echoServer("up");
  servers.push(upstream);
});
afterAll(() => {
  for (const s of servers) void s.stop(true);
});

function proxy(routes: string, options: Partial<ProxyOptions> = {}) {
  const table = buildTable(parse(routes.replaceAll("UP", `127.0.0.1:${upstream.port}`)), builtinRegistries());
  expect(table.problems).toEqual([]);
  const exchanges = new Exchanges(systemClock);
  const records: ExchangeRecord[] = [];
  let recorded = Promise.withResolvers<void>();
  exchanges.subscribe((r) => {
    records.push({ ...r });
    recorded.resolve();
    recorded = Promise.withResolvers<void>();
  });
  /** Resolves once `n` exchanges have completed. */
  const completed = async (n: number) => {
    while (records.length < n) await recorded.promise;
  };
  const handler = createHandler({ table: () => table, defaultStatus: 404, maxLoopbacks: 9, preserveHost: false, upstream: { responseHeaderTimeout: 5000 }, exchanges, ...options });
  const server = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: handler, development: false });
  servers.push(server);
  return { url: `http://127.0.0.1:${server.port}`, port: server.port!, records, completed };
}

describe("paths are matched decoded, once, and forwarded as sent", () => {
  const guarded = () =>
    proxy(`
      admin: PathSubtree("/admin") -> status(403) -> inlineContent("no") -> <shunt>;
      exact: Path("/exact/:id") -> setPath("/got/\${id}") -> "http://UP";
      re: PathRegexp(/^\\/re\\/x$/) -> "http://UP";
      mod: PathSubtree("/mod") -> modPath("^/mod", "/moved") -> "http://UP";
      rest: * -> "http://UP"`);
  let p: ReturnType<typeof guarded>;
  beforeAll(() => (p = guarded()));
  const get = async (path: string) => {
    const res = await rawRequest(p.port, `GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
    const status = Number(res.slice(9, 12));
    const body = res.slice(res.indexOf("\r\n\r\n") + 4);
    return { status, url: status === 200 ? new URL((JSON.parse(body) as Echo).url).pathname : body };
  };

  test.each(["/admin", "/%61dmin", "/%61%64%6d%69%6e/x", "/x/%2e%2e/admin", "/x%2f..%2fadmin/y", "/admin%2Fsecret", "/ADMIN%2f".replace("ADMIN", "admin")])("PathSubtree(\"/admin\") guards %p", async (path) => {
    expect((await get(path)).status).toBe(403);
  });

  test.each([
    // Path with a param: the param is the decoded segment, decoded once only
    ["/exact/%41", "/got/A"],
    ["/exact/%2541", "/got/%2541"],
    // PathRegexp sees the decoded path; the path goes out as the client wrote it
    ["/re/%78", "/re/%78"],
    // modPath works on the decoded path, which then goes out encoded again
    ["/%6dod/a%20b", "/moved/a%20b"],
    ["/mod/%3F", "/moved/%3F"],
    // an untouched path is forwarded byte for byte, escapes and all
    ["/other/%7e/a%2Fb", "/other/%7e/a%2Fb"],
  ])("%p reaches the backend as %p", async (path, seen) => {
    expect(await get(path)).toEqual({ status: 200, url: seen });
  });

  test("a broken escape is 400", async () => {
    expect((await get("/a%zz")).status).toBe(400);
  });
});

describe("a client's fault never opens a backend's breaker", () => {
  test("two identical Content-Length lines are collapsed and sent; three of them leave the breaker closed", async () => {
    const breakers = new BreakerRegistry({ entries: [], clock: systemClock });
    const p = proxy(`r: * -> consecutiveBreaker(2) -> "http://UP"`, { breakers });
    for (let i = 0; i < 3; i++) {
      const res = await rawRequest(p.port, "POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello");
      expect(res).toStartWith("HTTP/1.1 200");
    }
    expect((await fetch(p.url + "/")).status).toBe(200);
  });

  test("a body too slow for -read-timeout-server is 408 and does not count", async () => {
    const reading = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: async (req) => new Response(await req.text()) });
    servers.push(reading);
    const p = proxy(`r: * -> consecutiveBreaker(1) -> "http://127.0.0.1:${reading.port}"`, { readTimeout: 100 });
    const res = await rawRequest(p.port, "POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc", 3000);
    expect(res).toStartWith("HTTP/1.1 408");
    expect(res).toContain("request-timeout");
    const next = await fetch(p.url + "/");
    expect([next.status, next.headers.get("x-sallyport-error")]).toEqual([200, null]);
  });

  test("a backend that closes while the client's body is still arriving does not count: the client may have stalled", async () => {
    // What a backend does when a client stops sending mid-body and its own read timeout fires.
    const impatient = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data: (socket) => void socket.terminate() } });
    servers.push(impatient);
    const p = proxy(`r: * -> consecutiveBreaker(1) -> "http://127.0.0.1:${impatient.port}"`);
    const res = await rawRequest(p.port, "POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\nConnection: close\r\n\r\nhello", 3000);
    expect(res).toStartWith("HTTP/1.1 502");
    // Open, the breaker would answer 503 circuit-open before dialing; the backend still refuses the next one.
    const next = await fetch(p.url + "/", { method: "POST", body: "x" });
    expect([next.status, next.headers.get("x-sallyport-error")]).toEqual([502, "connection-reset"]);
  });

  test("with the read deadline the body is watched: a backend that closes after the whole body arrived does count", async () => {
    const closing = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data: (socket, bytes) => void (Buffer.from(bytes).toString().endsWith("hello") && socket.terminate()) } });
    servers.push(closing);
    const p = proxy(`r: * -> consecutiveBreaker(1) -> "http://127.0.0.1:${closing.port}"`, { readTimeout: 5000 });
    expect((await fetch(p.url + "/", { method: "POST", body: "hello" })).status).toBe(502);
    const next = await fetch(p.url + "/", { method: "POST", body: "hello" });
    expect([next.status, next.headers.get("x-sallyport-error")]).toEqual([503, "circuit-open"]);
  });

  test("a client that leaves before the answer does not count", async () => {
    const slow = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: async () => (await Bun.sleep(300), new Response("late")) });
    servers.push(slow);
    const p = proxy(`r: * -> consecutiveBreaker(1) -> "http://127.0.0.1:${slow.port}"`);
    for (let i = 0; i < 2; i++) await fetch(p.url + "/", { signal: AbortSignal.timeout(50) }).catch(() => {});
    await Bun.sleep(400);
    expect((await fetch(p.url + "/")).status).toBe(200);
  });
});

describe("a rate limit is not charged for a request the backend never had whole through the client's doing", () => {
  const reading = () => {
    const server = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: async (req) => new Response(await req.text()) });
    servers.push(server);
    return `http://127.0.0.1:${server.port}`;
  };
  const statusOf = (res: string) => Number(res.slice(9, 12));

  test("a body too slow for -read-timeout-server (408): its slot is given back", async () => {
    const p = proxy(`r: * -> ratelimit(1, "1h") -> "${reading()}"`, { readTimeout: 100 });
    expect(statusOf(await rawRequest(p.port, "POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc", 3000))).toBe(408);
    expect((await fetch(p.url + "/")).status).toBe(200);
    expect((await fetch(p.url + "/")).status).toBe(429);
  });

  test("a client that leaves before its body is sent (the body watched): given back; the -ratelimits slot too", async () => {
    const requestLimit = createRequestLimit({ type: "service", maxHits: 1, timeWindow: 3_600_000, group: "" }, systemClock);
    const p = proxy(`r: * -> ratelimit(1, "1h") -> "${reading()}"`, { readTimeout: 5000, requestLimit });
    await rawRequest(p.port, "POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc", 300);
    await p.completed(1);
    expect([p.records[0]!.status, p.records[0]!.cause]).toEqual([499, "client-gone"]);
    expect((await fetch(p.url + "/")).status).toBe(200);
    expect((await fetch(p.url + "/")).status).toBe(429);
  });

  test("a client that leaves once its whole request went out is charged: the backend may act on it", async () => {
    const slow = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: async () => (await Bun.sleep(300), new Response("late")) });
    servers.push(slow);
    const p = proxy(`r: * -> ratelimit(2, "1h") -> "http://127.0.0.1:${slow.port}"`, { readTimeout: 5000 });
    await fetch(p.url + "/", { signal: AbortSignal.timeout(50) }).catch(() => {});
    await fetch(p.url + "/", { method: "POST", body: "whole", signal: AbortSignal.timeout(50) }).catch(() => {});
    await p.completed(2);
    expect(p.records.map((r) => r.status)).toEqual([499, 499]);
    expect((await fetch(p.url + "/")).status).toBe(429);
  });

  test("a dynamic target the client got wrong (400 before any backend call): given back", async () => {
    const p = proxy(`dyn: * -> ratelimit(1, "1h") -> <dynamic>`);
    for (let i = 0; i < 3; i++) {
      const res = await rawRequest(p.port, "GET / HTTP/1.1\r\nHost: a%40127.0.0.1\r\nConnection: close\r\n\r\n");
      expect(res.toLowerCase()).toContain("x-sallyport-error: no-dynamic-target");
    }
  });
});

describe("requests the proxy cannot forward faithfully are refused with 400", () => {
  test.each([
    ["GET /x HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello", "bad-request"],
    ["HEAD /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n0\r\n\r\n", "bad-request"],
    ["GET /dyn HTTP/1.1\r\nHost: 127.0.0.1:65536\r\nConnection: close\r\n\r\n", "bad-request"],
    ["GET /dyn HTTP/1.1\r\nHost: a%40127.0.0.1\r\nConnection: close\r\n\r\n", "no-dynamic-target"],
  ])("%#", async (request, cause) => {
    const p = proxy(`dyn: Path("/dyn") -> <dynamic>; r: * -> "http://UP"`);
    const res = await rawRequest(p.port, request);
    expect(res).toStartWith("HTTP/1.1 400");
    expect(res.toLowerCase()).toContain(`x-sallyport-error: ${cause}`);
  });
});

describe("a backend's answer that is not HTTP we can relay is 502 bad-response", () => {
  const answers: Record<string, string> = {
    s600: "HTTP/1.1 600 Weird\r\nContent-Length: 2\r\n\r\nok",
    badlength: "HTTP/1.1 200 OK\r\nContent-Length: abc\r\n\r\nok",
    upgrade: "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
    s99: "HTTP/1.1 99 Weird\r\nContent-Length: 2\r\n\r\nok",
  };
  let port = 0;
  beforeAll(() => {
    const raw = Bun.listen({
      hostname: "127.0.0.1",
      port: 0,
      socket: {
        data(s, b) {
          const name = new TextDecoder().decode(b).split(" ")[1]!.slice(1);
          s.write(answers[name] ?? "HTTP/1.1 500 X\r\nContent-Length: 0\r\n\r\n");
        },
      },
    });
    servers.push(raw);
    port = raw.port;
  });
  test.each(Object.keys(answers))("%s", async (name) => {
    const p = proxy(`r: * -> "http://127.0.0.1:${port}"`);
    const res = await fetch(`${p.url}/${name}`);
    expect([res.status, res.headers.get("x-sallyport-error")]).toEqual([502, "bad-response"]);
    expect(p.records.at(-1)?.cause).toBe("bad-response");
  });
});

test("load balancing: an endpoint counts as busy until its response body has been passed on", async () => {
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const streaming = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch: () =>
      new Response(
        new ReadableStream({
          async start(c) {
            c.enqueue(new TextEncoder().encode("first "));
            await gate;
            c.enqueue(new TextEncoder().encode("last"));
            c.close();
          },
        }),
      ),
  });
  servers.push(streaming);
  const routes = `r: * -> <powerOfRandomNChoices, "http://127.0.0.1:${streaming.port}">`;
  const table = buildTable(parse(routes), builtinRegistries());
  const handler = createHandler({ table: () => table, defaultStatus: 404, maxLoopbacks: 9, preserveHost: false, upstream: { responseHeaderTimeout: 5000 } });
  const server = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: handler });
  servers.push(server);
  const backend = table.routes[0]!.backend;
  if (backend.type !== "lb") throw new Error("expected an lb backend");
  const endpoint = backend.balancer.endpoints[0]!;
  const res = await fetch(`http://127.0.0.1:${server.port}/`);
  const reader = res.body!.getReader();
  await reader.read();
  expect(endpoint.inflight).toBe(1); // headers are here, the body is not done
  release();
  while (!(await reader.read()).done);
  await Bun.sleep(10);
  expect(endpoint.inflight).toBe(0);
});
