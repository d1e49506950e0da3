/**
 * Upstream timeouts on the one clock: a backend that never answers, a fake clock moved by hand.
 * Nothing here waits for real time to pass.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import type { Server } from "bun";
import { parse } from "../../src/eskip/index.ts";
import { createHandler } from "../../src/proxy/handler.ts";
import { buildTable } from "../../src/routing/build.ts";
import { builtinRegistries } from "../../src/routing/registries.ts";
import { FakeClock } from "../support/clock.ts";

let silent: Server<undefined>;
let arrived: () => void = () => {};
const servers: Server<undefined>[] = [];

beforeAll(() => {
  // Takes every request and never answers it.
  silent = Bun.serve({ hostname: "127.0.0.1", port: 0, idleTimeout: 0, fetch: () => (arrived(), new Promise<Response>(() => {})) });
});
afterAll(() => {
  silent.stop(true);
  for (const s of servers) s.stop(true);
});

function proxy(route: string, clock: FakeClock) {
  const table = buildTable(parse(`r: * -> ${route} "http://127.0.0.1:${silent.port}"`), builtinRegistries());
  const handler = createHandler({ table: () => table, defaultStatus: 404, maxLoopbacks: 9, preserveHost: false, upstream: { responseHeaderTimeout: 60_000 }, clock });
  const server = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: handler });
  servers.push(server);
  return `http://127.0.0.1:${server.port}/`;
}

test.each([
  ["", 60_000, "response-header-timeout"],
  ['backendTimeout("5s") ->', 5_000, "backend-timeout"],
])("%p: 504 when the clock has moved %p ms", async (filters, ms, cause) => {
  const clock = new FakeClock();
  const url = proxy(filters, clock);
  const reached = new Promise<void>((resolve) => (arrived = resolve));
  const response = fetch(url);
  await reached;
  // Real timers would keep this test waiting for a minute; the fake clock fires at once.
  await clock.advance(ms);
  const res = await response;
  expect([res.status, res.headers.get("x-sallyport-error")]).toEqual([504, cause]);
  expect(clock.pending).toBe(0); // every timer of the request was cancelled or fired
}, 5_000);
