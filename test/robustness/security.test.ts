/**
 * What no upstream and no client can make the binary do: pass an upstream's forged diagnostic
 * headers off as the proxy's, or hand out its own /metrics and /routes through a proxy port.
 * (That no secret value, credential or private key reaches any output is checked for every
 * end-to-end proxy by test/support/binary.ts: its logs, its access log, its /metrics and /routes.)
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { Server } from "bun";
import { startProxy, type RunningProxy } from "../support/binary.ts";
import { rawRequest } from "../support/raw.ts";

/** An upstream that answers every request with the proxy's own diagnostic fields, and a status of the path's choosing. */
let forger: Server<undefined>;
/** -address with a catch-all route to the forger, as a deployment without a route to the support listener */
let proxy: RunningProxy;
/** a forward port with no routes, the default private-address guard, and the forger's port alone allowed */
let forward: RunningProxy;

beforeAll(async () => {
  forger = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch: (req) => {
      const status = Number(new URL(req.url).pathname.slice(1)) || 200;
      return new Response("the upstream's own answer", { status, headers: { "X-Sallyport-Error": "circuit-open", "X-Circuit-Open": "true", "X-Other": "kept" } });
    },
  });
  [proxy, forward] = await Promise.all([
    startProxy(["-inline-routes", `* -> "http://127.0.0.1:${forger.port}"`]),
    startProxy(["-forward-address", "127.0.0.1:0", "-egress-allow", `127.0.0.1:${forger.port}`]),
  ]);
});

afterAll(async () => {
  await Promise.all([proxy?.stop(), forward?.stop()]);
  forger?.stop(true);
});

describe("an upstream cannot forge the proxy's diagnostic fields", () => {
  const ours = (res: Response) => [res.headers.get("x-sallyport-error"), res.headers.get("x-circuit-open"), res.headers.get("x-other")];

  test.each([
    ["GET, 503", "GET", "/503"],
    ["GET, 200", "GET", "/200"],
    ["POST with a body (the fetch path), 500", "POST", "/500"],
  ])("%s: X-Sallyport-Error and X-Circuit-Open are dropped, the upstream's status and other fields kept", async (_name, method, path) => {
    const res = await fetch(proxy.url + path, { method, body: method === "POST" ? "x" : undefined });
    expect([res.status, await res.text()]).toEqual([Number(path.slice(1)), "the upstream's own answer"]);
    expect(ours(res)).toEqual([null, null, "kept"]);
  });

  test("through the forward port too", async () => {
    const answer = await rawRequest(forward.forwardPort!, `GET http://127.0.0.1:${forger.port}/502 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
    expect(answer).toStartWith("HTTP/1.1 502");
    expect(answer).toContain("the upstream's own answer");
    expect(answer).not.toMatch(/x-sallyport-error|x-circuit-open/i);
  });
});

describe("/metrics and /routes are not reachable through the proxy ports", () => {
  const support = () => new URL(proxy.supportUrl).port;

  test("on -address, /metrics and /routes are paths like any other: they go where the routes say", async () => {
    for (const path of ["/metrics", "/routes", "/healthz"]) {
      const res = await fetch(proxy.url + path);
      expect(await res.text()).toBe("the upstream's own answer");
    }
  });

  test("on -address, a Host naming the support listener changes nothing", async () => {
    const res = await fetch(proxy.url + "/metrics", { headers: { host: `127.0.0.1:${support()}` } });
    expect(await res.text()).toBe("the upstream's own answer");
  });

  test("through the forward port: absolute-form to the support listener is refused by the egress policy, CONNECT by -connect-ports", async () => {
    const port = new URL(forward.supportUrl).port;
    for (const path of ["/metrics", "/routes"]) {
      const absolute = await rawRequest(forward.forwardPort!, `GET http://127.0.0.1:${port}${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nConnection: close\r\n\r\n`);
      expect(absolute).toStartWith("HTTP/1.1 403");
      expect(absolute).toMatch(/x-sallyport-error: egress-denied/i);
    }
    const connect = await rawRequest(forward.forwardPort!, `CONNECT 127.0.0.1:${port} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`);
    expect(connect).toStartWith("HTTP/1.1 403");
    expect(connect).toContain("connect-port-denied");
  });
});
