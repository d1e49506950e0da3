/**
 * The seed's "reach multiple services" and the proxy's error and header rules, end to end:
 * curl → dist/sallyport → real upstreams on 127.0.0.1 (one of them HTTPS with a test CA).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { Server } from "bun";
import { gzipSync } from "node:zlib";
import { startProxy, type RunningProxy } from "../support/binary.ts";
import { curl } from "../support/curl.ts";
import { rawRequest } from "../support/raw.ts";
import { makeTestPki } from "../support/tls.ts";
import { echoServer, type Echo } from "../support/upstream.ts";

let a: Server<undefined>;
let b: Server<undefined>;
let special: Server<undefined>;
let proxy: RunningProxy;
let upstreamAborted: () => boolean;

beforeAll(async () => {
  const pki = await makeTestPki();
  a = echoServer("a");
  b = echoServer("b", { key: pki.key, cert: pki.cert });
  let aborted = false;
  upstreamAborted = () => aborted;
  special = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    async fetch(req) {
      const path = new URL(req.url).pathname;
      if (path === "/cookies") {
        const headers = new Headers();
        headers.append("set-cookie", "a=1; Path=/");
        headers.append("set-cookie", "b=2; Path=/");
        return new Response("cookies", { headers });
      }
      if (path === "/redirect") return new Response(null, { status: 302, headers: { location: "http://elsewhere.example/" } });
      if (path === "/not-modified") return new Response(null, { status: 304, headers: { etag: '"v1"' } });
      if (path === "/gzip") return new Response(gzipSync("hello gzip"), { headers: { "content-encoding": "gzip", "content-type": "text/plain" } });
      if (path === "/hop") return new Response("hop", { headers: { connection: "x-private", "x-private": "secret-hop", "keep-alive": "timeout=5" } });
      if (path === "/slow") {
        req.signal.addEventListener("abort", () => (aborted = true));
        await Bun.sleep(3000);
        return new Response("late");
      }
      return new Response("special");
    },
  });
  const routes = [
    `a: Host("^a[.]localhost(:[0-9]+)?$") -> "http://127.0.0.1:${a.port}"`,
    `b: Host("^b[.]localhost(:[0-9]+)?$") -> setRequestHeader("X-Route", "b") -> "https://localhost:${b.port}"`,
    `special: Host("^special[.]localhost") -> "http://127.0.0.1:${special.port}"`,
    `timeout: Host("^timeout[.]localhost") -> backendTimeout("200ms") -> "http://127.0.0.1:${special.port}"`,
    `refused: Host("^refused[.]localhost") -> "http://127.0.0.1:1"`,
  ].join(";\n");
  proxy = await startProxy(["-inline-routes", routes, "-backend-ca-file", pki.caFile, "-response-header-timeout-backend", "1s"]);
});

afterAll(async () => {
  await proxy?.stop();
  a?.stop(true);
  b?.stop(true);
  special?.stop(true);
});

const get = (host: string, path = "/", extra: string[] = []) => curl(["-H", `Host: ${host}`, ...extra, proxy.url + path]);

describe("reach multiple services (the seed walkthrough)", () => {
  test("Host(a.localhost) goes to the plain upstream, with the backend's Host", async () => {
    const res = await get("a.localhost", "/foo?x=1");
    expect(res.status).toBe(200);
    const echo = JSON.parse(res.body) as Echo;
    expect(echo.name).toBe("a");
    expect(echo.url).toBe(`http://127.0.0.1:${a.port}/foo?x=1`);
    expect(echo.headers["host"]).toBe(`127.0.0.1:${a.port}`);
    expect(echo.headers["x-forwarded-for"]).toBe("127.0.0.1");
  });

  test("Host(b.localhost) goes to the HTTPS upstream trusted through -backend-ca-file", async () => {
    const res = await get("b.localhost:9090", "/bar");
    expect(res.status).toBe(200);
    const echo = JSON.parse(res.body) as Echo;
    expect(echo.name).toBe("b");
    expect(echo.headers["x-route"]).toBe("b");
    expect(echo.headers["host"]).toBe(`localhost:${b.port}`);
  });

  test("no route: the default status with a reason and a cause header", async () => {
    const res = await get("nowhere.localhost");
    expect(res.status).toBe(404);
    expect(res.body).toBe("Not Found\n");
    expect(res.headers["x-sallyport-error"]).toBe("no-route");
  });
});

describe("headers", () => {
  test("X-Forwarded-For is appended to what the client sent", async () => {
    const res = await get("a.localhost", "/", ["-H", "X-Forwarded-For: 10.1.2.3"]);
    expect((JSON.parse(res.body) as Echo).headers["x-forwarded-for"]).toBe("10.1.2.3, 127.0.0.1");
  });

  test("hop-by-hop request headers are not forwarded", async () => {
    const res = await get("a.localhost", "/", ["-H", "Connection: keep-alive, X-Drop-Me", "-H", "X-Drop-Me: 1", "-H", "Proxy-Authorization: Basic eA==", "-H", "TE: trailers", "-H", "X-Keep: yes"]);
    const headers = (JSON.parse(res.body) as Echo).headers;
    expect(headers["x-drop-me"]).toBeUndefined();
    expect(headers["proxy-authorization"]).toBeUndefined();
    expect(headers["te"]).toBeUndefined();
    expect(headers["x-keep"]).toBe("yes");
  });

  test("hop-by-hop response headers are not returned", async () => {
    const res = await get("special.localhost", "/hop");
    expect(res.body).toBe("hop");
    expect(res.headers["x-private"]).toBeUndefined();
    expect(res.headers["keep-alive"]).toBeUndefined();
  });

  test("gzip passes through untouched", async () => {
    const res = await curl(["-H", "Host: special.localhost", "-H", "Accept-Encoding: gzip", "-o", "/dev/null", "-w", "%{size_download}", proxy.url + "/gzip"]);
    expect(res.headers["content-encoding"]).toBe("gzip");
    expect(Number(res.body)).toBe(gzipSync("hello gzip").byteLength);
    const decoded = await curl(["--compressed", "-H", "Host: special.localhost", proxy.url + "/gzip"]);
    expect(decoded.body).toBe("hello gzip");
  });

  test("a Host header with a comma is refused", async () => {
    const res = await get("a.localhost, b.localhost");
    expect(res.status).toBe(400);
    expect(res.headers["x-sallyport-error"]).toBe("bad-request");
  });

  test("two Host headers are refused", async () => {
    const res = await rawRequest(proxy.port, "GET / HTTP/1.1\r\nHost: a.localhost\r\nHost: b.localhost\r\nConnection: close\r\n\r\n");
    expect(res).toStartWith("HTTP/1.1 400");
    expect(res.toLowerCase()).toContain("x-sallyport-error: bad-request");
  });
});

describe("responses pass through as the backend sent them", () => {
  test("several Set-Cookie headers stay separate", async () => {
    const res = await rawRequest(proxy.port, "GET /cookies HTTP/1.1\r\nHost: special.localhost\r\nConnection: close\r\n\r\n");
    expect(res.match(/^set-cookie: .*$/gim)?.map((l) => l.trim().toLowerCase())).toEqual(["set-cookie: a=1; path=/", "set-cookie: b=2; path=/"]);
  });

  test("redirects are returned, not followed", async () => {
    const res = await get("special.localhost", "/redirect");
    expect(res.status).toBe(302);
    expect(res.headers["location"]).toBe("http://elsewhere.example/");
  });

  test("304 keeps its validators and has no body", async () => {
    const res = await get("special.localhost", "/not-modified");
    expect(res.status).toBe(304);
    expect(res.headers["etag"]).toBe('"v1"');
    expect(res.body).toBe("");
  });

  test("HEAD keeps the backend's Content-Length", async () => {
    const res = await get("a.localhost", "/", ["-I"]);
    expect(res.status).toBe(200);
    expect(Number(res.headers["content-length"])).toBeGreaterThan(0);
  });
});

describe("errors become responses", () => {
  test("connection refused: 502 dial-failed", async () => {
    const res = await get("refused.localhost");
    expect(res.status).toBe(502);
    expect(res.headers["x-sallyport-error"]).toBe("dial-failed");
    expect(res.body).toContain("Bad Gateway");
  });

  test("backendTimeout: 504", async () => {
    const res = await get("timeout.localhost", "/slow");
    expect(res.status).toBe(504);
    expect(res.headers["x-sallyport-error"]).toBe("backend-timeout");
  });

  test("-response-header-timeout-backend: 504", async () => {
    const res = await get("special.localhost", "/slow");
    expect(res.status).toBe(504);
    expect(res.headers["x-sallyport-error"]).toBe("response-header-timeout");
  });

  test("a client that goes away aborts the upstream request", async () => {
    const res = await get("special.localhost", "/slow", ["--max-time", "0.3"]);
    expect(res.code).toBe(28); // curl: operation timed out
    for (let i = 0; i < 50 && !upstreamAborted(); i++) await Bun.sleep(20);
    expect(upstreamAborted()).toBe(true);
  });

  test("CONNECT on -address gets 405 and a hint, never 200", async () => {
    const res = await curl(["-X", "CONNECT", "--request-target", "example.com:443", proxy.url]);
    expect(res.status).toBe(405);
    expect(res.body).toContain("-forward-address");
    expect(res.headers["x-sallyport-error"]).toBe("connect-not-supported");
  });
});

describe("support listener", () => {
  test("/healthz", async () => {
    const res = await curl([proxy.supportUrl + "/healthz"]);
    expect(res.status).toBe(200);
    expect(res.body).toBe("ok\n");
  });

  test("/routes prints the live table as eskip", async () => {
    const res = await curl([proxy.supportUrl + "/routes"]);
    expect(res.status).toBe(200);
    expect(res.body).toContain(`a: Host("^a[.]localhost(:[0-9]+)?$")`);
    expect(res.headers["x-count"]).toBe("5");
  });
});
