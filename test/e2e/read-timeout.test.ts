/** -read-timeout-server: a client that stalls mid-body gets 408, and the backend never sees a whole body. */
import { afterAll, beforeAll, expect, test } from "bun:test";
import type { Server } from "bun";
import { startProxy, type RunningProxy } from "../support/binary.ts";
import { curl } from "../support/curl.ts";
import { rawRequest } from "../support/raw.ts";

let upstream: Server<undefined>;
let proxy: RunningProxy;
const completeBodies: number[] = [];

beforeAll(async () => {
  upstream = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    async fetch(req) {
      const body = await req.arrayBuffer(); // throws when the proxy gives up on the body
      completeBodies.push(body.byteLength);
      return new Response(`got ${body.byteLength}`);
    },
  });
  proxy = await startProxy(["-read-timeout-server", "500ms", "-inline-routes", `* -> "http://127.0.0.1:${upstream.port}"`]);
});

afterAll(async () => {
  await proxy?.stop();
  upstream?.stop(true);
});

test("a body that stops arriving: 408 request-timeout", async () => {
  const started = performance.now();
  const res = await rawRequest(proxy.port, "POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123456789", 5000);
  expect(res).toStartWith("HTTP/1.1 408");
  expect(res.toLowerCase()).toContain("x-sallyport-error: request-timeout");
  expect(performance.now() - started).toBeLessThan(4000);
  expect(completeBodies).not.toContain(100);
});

test("a body sent in time goes through", async () => {
  const res = await curl(["-X", "POST", "--data-binary", "x".repeat(1000), proxy.url + "/upload"]);
  expect(res.status).toBe(200);
  expect(res.body).toBe("got 1000");
});

test("requests without a body are not affected by the read deadline", async () => {
  const res = await curl([proxy.url + "/"]);
  expect(res.status).toBe(200);
});
