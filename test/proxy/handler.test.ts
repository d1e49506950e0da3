/**
 * The request pipeline in process, over real sockets: Bun.serve running our handler, a real
 * upstream, fetch as the client. Filter order, serving filters, backends, loopbacks.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { Server } from "bun";
import { builtinRegistries } from "../../src/routing/registries.ts";
import { parse } from "../../src/eskip/index.ts";
import { createHandler } from "../../src/proxy/handler.ts";
import { buildTable } from "../../src/routing/build.ts";
import { echoServer, type Echo } from "../support/upstream.ts";

let upstream: Server<undefined>;
let proxies: Server<undefined>[] = [];

beforeAll(() => {
  upstream = echoServer("up");
});
afterAll(() => {
  upstream.stop(true);
  for (const p of proxies) p.stop(true);
});

function proxy(routes: string, options: { preserveHost?: boolean; maxLoopbacks?: number } = {}): string {
  const table = buildTable(parse(routes.replaceAll("UP", `127.0.0.1:${upstream.port}`)), builtinRegistries());
  expect(table.problems).toEqual([]);
  const handler = createHandler({
    table: () => table,
    defaultStatus: 404,
    maxLoopbacks: options.maxLoopbacks ?? 9,
    preserveHost: options.preserveHost ?? false,
    upstream: { responseHeaderTimeout: 5000 },
  });
  const server = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: handler });
  proxies.push(server);
  return `http://127.0.0.1:${server.port}`;
}

const echo = async (res: Response) => (await res.json()) as Echo;

describe("filters", () => {
  test("request hooks run in route order, response hooks in reverse", async () => {
    const url = proxy(`r: * -> setRequestHeader("X-Order", "1") -> appendRequestHeader("X-Order", "2")
      -> setResponseHeader("X-Back", "first") -> setResponseHeader("X-Back", "second") -> "http://UP"`);
    const res = await fetch(url + "/");
    expect((await echo(res)).headers["x-order"]).toBe("1, 2");
    // The response half of the last filter runs first, so the first filter's value stays.
    expect(res.headers.get("x-back")).toBe("first");
  });

  test("a serving filter skips the later filters and the backend; earlier response halves still run", async () => {
    const url = proxy(`r: * -> status(418) -> inlineContent("tea") -> setResponseHeader("X-Never", "1") -> "http://UP"`);
    const res = await fetch(url + "/");
    expect(res.status).toBe(418);
    expect(await res.text()).toBe("tea");
    expect(res.headers.get("x-never")).toBeNull();
  });

  test("setPath and modPath change what the backend sees; the query stays", async () => {
    const url = proxy(`r: Path("/api/:name") -> setPath("/v2/\${name}") -> modPath("^/v2", "/v3") -> "http://UP/ignored"`);
    expect((await echo(await fetch(url + "/api/users?x=1"))).url).toBe(`http://127.0.0.1:${upstream.port}/v3/users?x=1`);
  });
});

describe("backends", () => {
  test("<shunt> answers 404 with no body", async () => {
    const res = await fetch(proxy(`r: * -> <shunt>`) + "/");
    expect(res.status).toBe(404);
    expect(await res.text()).toBe("");
  });

  test("the outgoing Host is the backend's, or the client's with -proxy-preserve-host", async () => {
    const plain = proxy(`r: * -> "http://UP"`);
    const kept = proxy(`r: * -> "http://UP"`, { preserveHost: true });
    const headers = { host: "client.example" };
    expect((await echo(await fetch(plain + "/", { headers }))).headers.host).toBe(`127.0.0.1:${upstream.port}`);
    expect((await echo(await fetch(kept + "/", { headers }))).headers.host).toBe("client.example");
  });

  test("a Host set by a filter wins", async () => {
    const url = proxy(`r: * -> setRequestHeader("Host", "set.example") -> "http://UP"`);
    expect((await echo(await fetch(url + "/"))).headers.host).toBe("set.example");
  });

  test("<dynamic> goes where the Host header points", async () => {
    const url = proxy(`r: * -> <dynamic>`);
    const res = await fetch(url + "/dyn", { headers: { host: `127.0.0.1:${upstream.port}` } });
    expect((await echo(res)).url).toBe(`http://127.0.0.1:${upstream.port}/dyn`);
  });

  test("<dynamic> with setDynamicBackendUrl", async () => {
    const url = proxy(`r: * -> setDynamicBackendUrl("http://UP/path-ignored") -> <dynamic>`);
    expect((await echo(await fetch(url + "/d"))).url).toBe(`http://127.0.0.1:${upstream.port}/d`);
  });

  test("<dynamic> with setDynamicBackendHostFromHeader", async () => {
    const url = proxy(`r: * -> setDynamicBackendHostFromHeader("X-Target") -> <dynamic>`);
    const res = await fetch(url + "/h", { headers: { "x-target": `127.0.0.1:${upstream.port}` } });
    expect((await echo(res)).headers.host).toBe(`127.0.0.1:${upstream.port}`);
  });

  test("load-balanced backends spread requests", async () => {
    const second = echoServer("second");
    try {
      const url = proxy(`r: * -> <roundRobin, "http://UP", "http://127.0.0.1:${second.port}">`);
      const names = new Set<string>();
      for (let i = 0; i < 4; i++) names.add((await echo(await fetch(url + "/"))).name);
      expect(names).toEqual(new Set(["up", "second"]));
    } finally {
      second.stop(true);
    }
  });
});

describe("loopback", () => {
  test("the modified request is routed again, and its response passes back through", async () => {
    const url = proxy(`
      entry: Path("/start") -> setPath("/next") -> setResponseHeader("X-Entry", "yes") -> <loopback>;
      next: Path("/next") -> "http://UP"`);
    const res = await fetch(url + "/start");
    expect((await echo(res)).url).toEndWith("/next");
    expect(res.headers.get("x-entry")).toBe("yes");
  });

  test("more than -max-loopbacks passes: 500", async () => {
    const res = await fetch(proxy(`r: * -> <loopback>`, { maxLoopbacks: 3 }) + "/");
    expect(res.status).toBe(500);
    expect(res.headers.get("x-sallyport-error")).toBe("max-loopbacks");
  });
});

test("a request that passed this proxy too often is a loop: 508", async () => {
  const url = proxy(`r: * -> "http://UP"`, { maxLoopbacks: 2 });
  const res = await fetch(url + "/", { headers: { via: "1.1 sallyport, 1.1 sallyport, 1.1 sallyport" } });
  expect(res.status).toBe(508);
  expect((await echo(await fetch(url + "/"))).headers.via).toBe("1.1 sallyport");
});

test("a client that leaves ends its retries: no new backend request goes out", async () => {
  let hits = 0;
  const failing = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    async fetch() {
      hits++;
      await Bun.sleep(200);
      return new Response("busy", { status: 503 });
    },
  });
  try {
    const url = proxy(`r: * -> retry(3, "503", "10ms") -> "http://127.0.0.1:${failing.port}"`);
    const client = new AbortController();
    setTimeout(() => client.abort(), 100);
    await fetch(url + "/", { signal: client.signal }).catch(() => {});
    await Bun.sleep(600);
    expect(hits).toBe(1);
  } finally {
    failing.stop(true);
  }
});
