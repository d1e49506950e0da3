/**
 * Inputs found in review that used to go wrong, end to end against the binary: odd Host headers,
 * HTTP/1.0 without Host, path rewrites that could move a request to another host, a Connection
 * header naming a non-token, a backend slower than the client idle timeout.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { Server } from "bun";
import { startProxy, type RunningProxy } from "../support/binary.ts";
import { curl } from "../support/curl.ts";
import { rawRequest } from "../support/raw.ts";
import { echoServer, type Echo } from "../support/upstream.ts";

let upstream: Server<undefined>;
let bystander: Server<undefined>;
let bystanderHits = 0;
let proxy: RunningProxy;

beforeAll(async () => {
  upstream = echoServer("up");
  bystander = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch() {
      bystanderHits++;
      return new Response("bystander");
    },
  });
  const slow = `http://127.0.0.1:${upstream.port}`;
  proxy = await startProxy([
    "-idle-timeout-server", "1s",
    "-inline-routes",
    [
      `strip: PathRegexp("^/api") -> modPath("^/api", "") -> setRequestHeader("Authorization", "Bearer injected") -> "${slow}"`,
      `ab: Path("/a/b") -> inlineContent("a-b") -> <shunt>`,
      `dyn: Path("/dyn") -> <dynamic>`,
      `slow: Path("/slow") -> setPath("/") -> "http://127.0.0.1:${upstream.port}"`,
      `rest: * -> inlineContent("rest") -> <shunt>`,
    ].join(";\n"),
  ]);
});

afterAll(async () => {
  await proxy?.stop();
  upstream?.stop(true);
  bystander?.stop(true);
});

describe("a rewritten path never becomes part of the host", () => {
  test("modPath leaving '@host:port/...' stays in the path", async () => {
    const res = await curl([`${proxy.url}/api@127.0.0.1:${bystander.port}/x`]);
    expect(res.status).toBe(200);
    const echo = JSON.parse(res.body) as Echo;
    expect(echo.name).toBe("up");
    expect(new URL(echo.url).pathname).toBe(`/@127.0.0.1:${bystander.port}/x`);
    expect(bystanderHits).toBe(0);
  });

  test("a rewrite that leaves no leading slash gets one", async () => {
    const res = await curl([`${proxy.url}/api%3Fa`]);
    expect((JSON.parse(res.body) as Echo).url).toEndWith("/%3Fa");
  });
});

describe("Host headers", () => {
  test.each(["a.example@127.0.0.1", "a.example/x", "a b", "a\\b"])("%p is refused with 400", async (host) => {
    const res = await rawRequest(proxy.port, `GET /dyn HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
    expect(res).toStartWith("HTTP/1.1 400");
    expect(bystanderHits).toBe(0);
  });

  test("HTTP/1.0 without Host is routed by its whole path", async () => {
    const res = await rawRequest(proxy.port, "GET /a/b HTTP/1.0\r\n\r\n");
    expect(res).toStartWith("HTTP/1.1 200");
    expect(res).toEndWith("a-b");
  });

  test("an HTTP/1.0 health check without Host", async () => {
    const res = await rawRequest(Number(new URL(proxy.supportUrl).port), "GET /healthz HTTP/1.0\r\n\r\n");
    expect(res).toStartWith("HTTP/1.1 200");
  });
});

test("a Connection header naming a non-token is not a 500 and shows no stack trace", async () => {
  const res = await rawRequest(proxy.port, "GET /a/b HTTP/1.1\r\nHost: x\r\nConnection: keep-alive, foo bar\r\nConnection: close\r\n\r\n");
  expect(res).toStartWith("HTTP/1.1 200");
  expect(res).not.toContain("at ");
});

test("a backend slower than -idle-timeout-server still answers", async () => {
  const slowUpstream = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    async fetch() {
      await Bun.sleep(2500);
      return new Response("late but fine");
    },
  });
  try {
    await using slowProxy = await startProxy(["-idle-timeout-server", "1s", "-inline-routes", `* -> "http://127.0.0.1:${slowUpstream.port}"`]);
    const res = await curl([slowProxy.url + "/"]);
    expect(res.status).toBe(200);
    expect(res.body).toBe("late but fine");
  } finally {
    slowUpstream.stop(true);
  }
});
