/**
 * The forward listener in-process: what only its insides show — the engine refuses connections
 * that did not come through the front, and the exchange records of tunnels and relayed requests.
 * The end-to-end behaviour with real clients is in test/e2e/forward-*.test.ts.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { Socket, TCPSocketListener } from "bun";
import { createDialPlan } from "../../src/egress/dial.ts";
import { createResolver } from "../../src/egress/dns.ts";
import { createEgressPolicy } from "../../src/egress/policy.ts";
import { parseEgressList } from "../../src/egress/rules.ts";
import { parse } from "../../src/eskip/parser.ts";
import { Exchanges, type ExchangeRecord } from "../../src/exchange/record.ts";
import { buildTable } from "../../src/routing/build.ts";
import { buildFallbackTable, withFallback } from "../../src/routing/fallback.ts";
import { builtinRegistries } from "../../src/routing/registries.ts";
import { forwardListener, type ForwardListener } from "../../src/tunnel/forward.ts";
import { systemClock } from "../../src/util/clock.ts";
import { rawRequest } from "../support/raw.ts";

let upstream: ReturnType<typeof Bun.serve>;
let echo: TCPSocketListener<undefined>;
/** answers LATE a moment after the client's FIN, then closes at once: the whole reply must still arrive */
let lateReplier: TCPSocketListener<undefined>;
let forward: ForwardListener;
let port: number;
const records: ExchangeRecord[] = [];
/** more than the socket buffers hold, so part of it is still queued in the proxy when the upstream closes */
const LATE = Buffer.alloc(8 * 1024 * 1024, "l");

function writeAllThenClose(s: Socket<undefined>, bytes: Uint8Array): void {
  let rest = bytes;
  const flush = () => {
    const n = s.write(rest);
    rest = rest.subarray(Math.max(0, n));
    if (rest.length === 0) s.end();
    else setTimeout(flush, 1);
  };
  flush();
}

beforeAll(async () => {
  upstream = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: (req) => new Response(`up ${new URL(req.url).pathname} ${req.headers.get("x-route") ?? "-"}`) });
  echo = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data: (s, chunk) => void s.write(chunk) } });
  lateReplier = Bun.listen({
    hostname: "127.0.0.1",
    port: 0,
    allowHalfOpen: true,
    socket: {
      data() {},
      end: (s) => void setTimeout(() => writeAllThenClose(s, LATE), 20),
    },
  });
  const exchanges = new Exchanges(systemClock);
  exchanges.subscribe((r) => records.push({ ...r }));
  const registries = builtinRegistries();
  const configured = buildTable(parse(`tagged: Path("/tagged") -> setRequestHeader("X-Route", "tagged") -> <dynamic>`), registries);
  const policy = createEgressPolicy({ allow: parseEgressList("127.0.0.1").rules });
  const resolver = createResolver({ family: "any", minTtl: 0, maxTtl: 0, timeout: 1000, clock: systemClock });
  forward = forwardListener({
    hostname: "127.0.0.1",
    port: 0,
    table: withFallback(() => configured, buildFallbackTable(registries, { egressSuffix: "", forward: true })),
    defaultStatus: 404,
    maxLoopbacks: 9,
    preserveHost: false,
    idleTimeoutMs: 10_000,
    upstream: { responseHeaderTimeout: 5_000 },
    headTimeout: 5_000,
    connectPorts: [echo.port, lateReplier.port],
    dialPlan: createDialPlan({ policy: () => ({ policy, role: undefined }), resolver }),
    dialTimeout: 5_000,
    exchanges,
    clock: systemClock,
    log: { error() {}, warn() {} },
  });
  port = Number((await forward.start()).split(":").pop());
});

afterAll(async () => {
  await forward.stop(0);
  upstream.stop(true);
  echo.stop(true);
  lateReplier.stop(true);
});

/** Sends `bytes` to the forward port, half-closes, and collects everything until the proxy closes, and how it did. */
async function sendAndFin(bytes: string): Promise<{ got: string; error: Error | undefined }> {
  const { promise, resolve } = Promise.withResolvers<{ got: string; error: Error | undefined }>();
  let got = "";
  const socket = await Bun.connect({
    hostname: "127.0.0.1",
    port,
    allowHalfOpen: true,
    socket: { data: (_s, chunk) => void (got += Buffer.from(chunk).toString()), close: (_s, error) => resolve({ got, error }) },
  });
  socket.write(bytes);
  socket.shutdown();
  return promise;
}

const ESTABLISHED_LINE = "HTTP/1.1 200 Connection Established\r\n\r\n";

const lastRecord = async (pred: (r: ExchangeRecord) => boolean) => {
  for (let i = 0; i < 100 && !records.some(pred); i++) await Bun.sleep(10);
  return records.findLast(pred);
};

describe("the route engine behind the front", () => {
  test("a connection that did not come through the front gets 421 not-forwarded", async () => {
    const enginePort = Number(forward.engineAddress!.split(":").pop());
    const res = await rawRequest(enginePort, `GET http://127.0.0.1:${upstream.port}/x HTTP/1.1\r\nHost: 127.0.0.1:${upstream.port}\r\nConnection: close\r\n\r\n`);
    expect(res).toStartWith("HTTP/1.1 421");
    expect(res.toLowerCase()).toContain("x-sallyport-error: not-forwarded");
  });

  test("the same request through the front is relayed, routed and recorded as the forward listener's", async () => {
    const res = await rawRequest(port, `GET http://127.0.0.1:${upstream.port}/tagged HTTP/1.1\r\nHost: elsewhere.example\r\nConnection: close\r\n\r\n`);
    expect(res).toStartWith("HTTP/1.1 200");
    expect(res).toEndWith("up /tagged tagged");
    const record = await lastRecord((r) => r.path === "/tagged");
    expect(record).toMatchObject({ kind: "request", listener: "forward", host: `127.0.0.1:${upstream.port}`, routeId: "tagged", status: 200 });
    expect(record!.egress).toMatchObject({ allowed: true, reason: "allow-rule", rule: "127.0.0.1" });
  });
});

describe("closing", () => {
  test("a reply the upstream sends after the client's FIN, then its own FIN, reaches the client (even when the FIN came with the CONNECT)", async () => {
    const { got, error } = await sendAndFin(`CONNECT 127.0.0.1:${lateReplier.port} HTTP/1.1\r\n\r\nhello`);
    // Closed, not reset: a reset may throw away what the client had not read yet.
    expect(error).toBeUndefined();
    expect(got.length).toBe(ESTABLISHED_LINE.length + LATE.length);
    expect(got.startsWith(ESTABLISHED_LINE)).toBe(true);
  });

  test("a first request whose body framing is unclear is answered 400, not dropped", async () => {
    const res = await rawRequest(port, `POST http://127.0.0.1:${upstream.port}/ HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n`);
    expect(res).toStartWith("HTTP/1.1 400");
    expect(res).toContain("transfer-encoding without chunked");
  });
});

test("open counts the forward port's connections", async () => {
  // Connections of earlier tests may still be closing: start from none.
  for (let i = 0; i < 200 && forward.open > 0; i++) await Bun.sleep(5);
  const before = forward.open;
  expect(before).toBe(0);
  const socket = await Bun.connect({ hostname: "127.0.0.1", port, socket: { data() {} } });
  for (let i = 0; i < 100 && forward.open === before; i++) await Bun.sleep(5);
  expect(forward.open).toBe(before + 1);
  socket.end();
  for (let i = 0; i < 100 && forward.open !== before; i++) await Bun.sleep(5);
  expect(forward.open).toBe(before);
});

describe("tunnel records", () => {
  test("a CONNECT tunnel is one record: status 200, the address dialed, bytes each way without the 200 line", async () => {
    const { promise, resolve } = Promise.withResolvers<string>();
    let got = "";
    const socket = await Bun.connect({
      hostname: "127.0.0.1",
      port,
      socket: {
        data(s, chunk) {
          got += Buffer.from(chunk).toString();
          if (got.endsWith("ping")) {
            resolve(got);
            s.end();
          }
        },
      },
    });
    socket.write(`CONNECT 127.0.0.1:${echo.port} HTTP/1.1\r\nHost: 127.0.0.1:${echo.port}\r\n\r\nping`);
    expect(await promise).toBe("HTTP/1.1 200 Connection Established\r\n\r\nping");
    const record = await lastRecord((r) => r.kind === "tunnel" && r.status === 200 && r.host === `127.0.0.1:${echo.port}`);
    expect(record).toMatchObject({ method: "CONNECT", host: `127.0.0.1:${echo.port}`, dialed: `127.0.0.1:${echo.port}`, bytesIn: 4, bytesOut: 4 });
  });

  test("a refused CONNECT is recorded with its cause", async () => {
    const res = await rawRequest(port, `CONNECT 127.0.0.2:${echo.port} HTTP/1.1\r\n\r\n`);
    expect(res).toStartWith("HTTP/1.1 403");
    const record = await lastRecord((r) => r.kind === "tunnel" && r.host === `127.0.0.2:${echo.port}`);
    expect(record).toMatchObject({ status: 403, cause: "egress-denied" });
    expect(record!.egress).toMatchObject({ allowed: false, reason: "not-in-allow-list" });
  });
});
