/**
 * What a route's rate limit charges on the forward port, against the compiled binary under
 * `-workers 2` (the slots live in the primary, so a slot given back crosses the IPC channel too):
 * exactly the requests its upstream could act on. A request whose body the front finds malformed,
 * or whose destination the egress policy refuses, gives its slot back (src/proxy/unsent.ts).
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import type { Server } from "bun";
import { startProxy, type RunningProxy } from "../support/binary.ts";
import { rawRequest } from "../support/raw.ts";

const LIMIT = 2;

let upstream: Server<undefined>;
/** request heads the upstream got, and requests it got whole, by path */
const started: string[] = [];
const whole: string[] = [];
let proxy: RunningProxy;

beforeAll(async () => {
  upstream = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    async fetch(req) {
      const path = new URL(req.url).pathname;
      started.push(path);
      await req.arrayBuffer();
      whole.push(path);
      return new Response("ok");
    },
  });
  // A limiter of its own per path: the settings differ.
  const routes = ["split", "first", "denied"].map((name, i) => `${name}: Path("/${name}") -> ratelimit(${LIMIT}, "${i + 1}h") -> <dynamic>`).join("; ");
  proxy = await startProxy(["-workers", "2", "-inline-routes", routes, "-forward-address", "127.0.0.1:0", "-egress-allow", "127.0.0.1"]);
});

afterAll(async () => {
  await proxy?.stop();
  upstream?.stop(true);
});

const head = (path: string, host = `127.0.0.1:${upstream.port}`) => `POST http://${host}${path} HTTP/1.1\r\nHost: ${host}\r\nTransfer-Encoding: chunked\r\n\r\n`;
const statusOf = (res: string) => Number(res.slice(9, 12));

/** LIMIT good requests to `path` pass, the next is 429: nothing before them was charged. */
async function slotsLeft(path: string): Promise<number[]> {
  const statuses: number[] = [];
  for (let i = 0; i <= LIMIT; i++) statuses.push((await fetch(`http://127.0.0.1:${upstream.port}${path}`, { proxy: proxy.forwardUrl })).status);
  return statuses;
}
const ALL_LEFT = [...Array<number>(LIMIT).fill(200), 429];

test("a chunked body that breaks after its head went on: recorded 400 bad-request, never whole at the upstream, its slot given back", async () => {
  for (let i = 0; i < LIMIT + 1; i++) {
    const heads = started.length;
    const closed = Promise.withResolvers<void>();
    const socket = await Bun.connect({ hostname: "127.0.0.1", port: proxy.forwardPort!, socket: { data() {}, close: () => closed.resolve() } });
    socket.write(head("/split") + "3\r\nabc\r\n");
    while (started.length === heads) await Bun.sleep(10);
    socket.write("zz\r\n");
    await closed.promise;
  }
  const recorded = () => proxy.logs.filter((l) => l.includes('"POST /split HTTP/1.1" 400')).length;
  for (let waited = 0; recorded() < LIMIT + 1 && waited < 5000; waited += 50) await Bun.sleep(50);
  expect(recorded()).toBe(LIMIT + 1);
  expect(whole.filter((p) => p === "/split")).toEqual([]);
  expect(await slotsLeft("/split")).toEqual(ALL_LEFT);
});

test("a chunked body that breaks within the first packet: 400 bad-request from the front, and not even the head reaches the upstream", async () => {
  for (let i = 0; i < LIMIT + 1; i++) {
    const res = await rawRequest(proxy.forwardPort!, head("/first") + "zz\r\nabc\r\n0\r\n\r\n");
    expect([statusOf(res), /x-sallyport-error: bad-request/i.test(res)]).toEqual([400, true]);
  }
  expect(started.filter((p) => p === "/first")).toEqual([]);
  expect(await slotsLeft("/first")).toEqual(ALL_LEFT);
});

test("a destination the egress policy refuses (403 egress-denied, never dialed): its slot given back", async () => {
  for (let i = 0; i < LIMIT + 1; i++) {
    const res = await rawRequest(proxy.forwardPort!, `GET http://127.0.0.3:${upstream.port}/denied HTTP/1.1\r\nHost: 127.0.0.3:${upstream.port}\r\nConnection: close\r\n\r\n`);
    expect([statusOf(res), /x-sallyport-error: egress-denied/i.test(res)]).toEqual([403, true]);
  }
  expect(await slotsLeft("/denied")).toEqual(ALL_LEFT);
});
