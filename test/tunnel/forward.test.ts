/**
 * The forward listener in-process: what only its insides show — the engine refuses connections
 * that did not come through the front, and the exchange records of tunnels and relayed requests.
 * The end-to-end behaviour with real clients is in test/e2e/forward-*.test.ts.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
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
let echo: ReturnType<typeof Bun.listen>;
let forward: ForwardListener;
let port: number;
const records: ExchangeRecord[] = [];

beforeAll(async () => {
  upstream = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: (req) => new Response(`up ${new URL(req.url).pathname} ${req.headers.get("x-route") ?? "-"}`) });
  echo = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data: (s, chunk) => void s.write(chunk) } });
  const exchanges = new Exchanges(systemClock);
  exchanges.subscribe((r) => records.push({ ...r }));
  const registries = builtinRegistries();
  const configured = buildTable(parse(`tagged: Path("/tagged") -> setRequestHeader("X-Route", "tagged") -> <dynamic>`), registries);
  const policy = createEgressPolicy({ allow: parseEgressList("127.0.0.1").rules });
  const resolver = createResolver({ family: "any", minTtl: 0, maxTtl: 0, timeout: 1000, clock: systemClock });
  forward = forwardListener({
    hostname: "127.0.0.1",
    port: 0,
    table: withFallback(() => configured, buildFallbackTable(registries)),
    defaultStatus: 404,
    maxLoopbacks: 9,
    preserveHost: false,
    idleTimeoutMs: 10_000,
    upstream: { responseHeaderTimeout: 5_000 },
    headTimeout: 5_000,
    connectPorts: [echo.port],
    dialPlan: createDialPlan({ policy: () => policy, resolver }),
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
});

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
    const record = await lastRecord((r) => r.kind === "tunnel" && r.status === 200);
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
