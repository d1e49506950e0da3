/**
 * One scrape after mixed traffic through a sallyport started in process: routes that answer,
 * fail, retry, rate-limit and trip a breaker, the forward port's fallback with a query string,
 * tunnels and refused CONNECTs, a secret injected and a client's Authorization. The metrics are
 * built from the running app's pieces and served by a support listener of the test's own — the
 * same call app.ts makes. `promtool check metrics` must find no problem (skipped when promtool
 * is missing; CI installs it), and no secret, credential or query string may reach a label.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import type { Socket, TCPSocketListener } from "bun";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startSallyport, type Sallyport } from "../../src/app.ts";
import { createResolver } from "../../src/egress/dns.ts";
import { parseEgressList } from "../../src/egress/rules.ts";
import type { ExchangeRecord } from "../../src/exchange/record.ts";
import { createLogger } from "../../src/log/index.ts";
import { createMetrics, type Metrics } from "../../src/metrics/index.ts";
import { supportListener } from "../../src/metrics/support.ts";
import type { Listener } from "../../src/net/listener.ts";
import { FakeClock } from "../support/clock.ts";
import { DEFAULT_CONFIG } from "../support/config.ts";
import { labelValues, parseSamples, valueOf } from "./samples.ts";

const HOST = "127.0.0.1";
const SECRET = "SECRET-FROM-FILE-4f1e";
const CLIENT_AUTH = "Bearer CLIENT-AUTH-77a9";
const QUERY_SECRET = "QUERY-SECRET-0c3d";
const TUNNEL_UP = 1000;
const TUNNEL_DOWN = 3000;

let upstream: ReturnType<typeof Bun.serve>;
let target: TCPSocketListener<{ got: number }>;
let deadPort: number;
let secretsDir: string;
let app: Sallyport;
let metrics: Metrics;
let support: Listener;
let scrape: string;
const completed: ExchangeRecord[] = [];

/** Resolves once `n` exchanges have completed since the start. */
function exchangesDone(n: number): Promise<void> {
  const { promise, resolve } = Promise.withResolvers<void>();
  const check = () => completed.length >= n && resolve();
  const stop = app.exchanges.subscribe(() => check());
  check();
  return promise.finally(stop);
}

/** A CONNECT through the forward port: the status line, and for a 200 the bytes that came down. */
async function connect(authority: string, up: number): Promise<{ status: string; down: number }> {
  const forward = app.addresses.get("forward")!;
  const port = Number(forward.slice(forward.lastIndexOf(":") + 1));
  const { promise, resolve } = Promise.withResolvers<{ status: string; down: number }>();
  let head = "";
  let status: string | undefined;
  let down = 0;
  await Bun.connect({
    hostname: HOST,
    port,
    socket: {
      data(socket: Socket, bytes) {
        if (status === undefined) {
          head += Buffer.from(bytes).toString("latin1");
          const end = head.indexOf("\r\n\r\n");
          if (end < 0) return;
          status = head.slice(0, head.indexOf("\r\n"));
          down += head.length - end - 4;
          if (status.startsWith("HTTP/1.1 200")) socket.write(new Uint8Array(up).fill(0x61));
        } else down += bytes.length;
        if (down >= TUNNEL_DOWN) socket.end();
      },
      close: () => resolve({ status: status ?? "", down }),
      error: () => resolve({ status: status ?? "", down }),
    },
  }).then((socket) => socket.write(`CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\n\r\n`));
  return promise;
}

beforeAll(async () => {
  let flaky = 0;
  upstream = Bun.serve({
    hostname: HOST,
    port: 0,
    fetch(req) {
      const path = new URL(req.url).pathname;
      if (path === "/fail") return new Response("no", { status: 503 });
      if (path === "/flaky") return new Response("?", { status: flaky++ % 2 === 0 ? 503 : 200 });
      return new Response("ok");
    },
  });
  // The tunnel target: once it has TUNNEL_UP bytes, it answers TUNNEL_DOWN and closes.
  target = Bun.listen<{ got: number }>({
    hostname: HOST,
    port: 0,
    socket: {
      open: (s) => void (s.data = { got: 0 }),
      data(s, bytes) {
        s.data.got += bytes.length;
        if (s.data.got >= TUNNEL_UP) {
          s.write(new Uint8Array(TUNNEL_DOWN).fill(0x62));
          s.end();
        }
      },
    },
  });
  // Port 1: nothing listens there, and no listener of this test can be given it (a freed port 0
  // pick could come back as the proxy's own, which then answers 508 loop-detected).
  deadPort = 1;

  secretsDir = await mkdtemp(join(tmpdir(), "sallyport-metrics-"));
  const secretFile = join(secretsDir, "token");
  await writeFile(secretFile, SECRET + "\n");
  const up = `http://${HOST}:${upstream.port}`;
  const routes = [
    `api: Path("/api") -> bearerinjector("${secretFile}") -> "${up}"`,
    `failing: Path("/fail") -> "${up}"`,
    `flaky: Path("/flaky") -> retry(2, "503", "1ms") -> "${up}"`,
    `limited: Path("/limited") -> ratelimit(1, "1h") -> "${up}"`,
    `dead: Path("/dead") -> consecutiveBreaker(2) -> "http://${HOST}:${deadPort}"`,
  ].join(";\n");
  const clock = new FakeClock(true);
  app = await startSallyport(
    {
      ...DEFAULT_CONFIG,
      address: `${HOST}:0`,
      supportListener: "",
      forwardAddress: `${HOST}:0`,
      connectPorts: [target.port, upstream.port!],
      egressAllow: parseEgressList(HOST).rules,
      credentialsPaths: [secretsDir],
      inlineRoutes: routes,
      accessLogDisabled: true,
    },
    createLogger("error", { write: () => {} }),
    clock,
  );
  const dns = createResolver({ family: "v4", minTtl: 0, maxTtl: 60_000, timeout: 1000, clock });
  await dns.resolve("localhost");
  // What app.ts is to pass: the pieces it already holds.
  metrics = createMetrics({
    clock,
    maxHosts: DEFAULT_CONFIG.metricsMaxHosts,
    exchanges: app.exchanges,
    breakers: app.breakers,
    retries: () => app.retries.retries,
    egressDecisions: app.egressDecisions,
    dns,
    secrets: app.secrets,
    openByListener: () => app.openByListener(),
  });
  app.exchanges.subscribe((r) => completed.push(r));
  support = supportListener({ hostname: HOST, port: 0, table: () => app.routes.table, ready: () => true, wait: (ms) => clock.sleep(ms), onError: () => {}, metrics });
  const supportAddress = await support.start();

  const proxy = `http://${app.addresses.get("proxy")}`;
  const get = async (path: string, init?: RequestInit) => {
    const res = await fetch(proxy + path, init);
    await res.arrayBuffer();
    return res.status;
  };
  const statuses = [
    await get(`/api?token=${QUERY_SECRET}`, { headers: { authorization: CLIENT_AUTH } }),
    await get("/api"),
    await get("/fail"),
    await get("/flaky"),
    await get("/limited"),
    await get("/limited"),
    await get("/dead"),
    await get("/dead"),
    await get("/dead"),
    await get(`/nowhere?api_key=${QUERY_SECRET}`),
    await get("/api", { method: "POST", body: "x" }),
  ];
  expect(statuses).toEqual([200, 200, 503, 200, 200, 429, 502, 502, 503, 404, 200]);
  // The forward port: a relayed request with a query (the fallback's <dynamic>), tunnels, refusals.
  const relayed = await fetch(`http://${HOST}:${upstream.port}/plain?api_key=${QUERY_SECRET}`, { proxy: `http://${app.addresses.get("forward")}`, headers: { "proxy-authorization": CLIENT_AUTH } });
  await relayed.arrayBuffer();
  expect(relayed.status).toBe(200);
  const tunnels = [await connect(`${HOST}:${target.port}`, TUNNEL_UP), await connect(`${HOST}:${target.port}`, TUNNEL_UP), await connect(`127.0.0.2:${target.port}`, 0), await connect(`${HOST}:22`, 0)];
  expect(tunnels.map((t) => t.status.slice(9, 12))).toEqual(["200", "200", "403", "403"]);
  expect(tunnels.map((t) => t.down)).toEqual([TUNNEL_DOWN, TUNNEL_DOWN, expect.any(Number), expect.any(Number)]);
  await exchangesDone(statuses.length + 1 + tunnels.length);
  scrape = await (await fetch(`http://${supportAddress}/metrics`)).text();
});

afterAll(async () => {
  metrics?.stop();
  await support?.stop(0);
  await app?.stop(0);
  upstream?.stop(true);
  target?.stop(true);
  if (secretsDir) await rm(secretsDir, { recursive: true, force: true });
});

test("requests by route and status class", () => {
  const count = (route: string, code: string) => valueOf(scrape, "sallyport_requests_total", { listener: "proxy", route, code });
  expect([count("api", "2xx"), count("failing", "5xx"), count("flaky", "2xx"), count("limited", "2xx"), count("limited", "4xx"), count("dead", "5xx"), count("", "4xx")]).toEqual([3, 1, 1, 1, 1, 3, 1]);
  expect(valueOf(scrape, "sallyport_requests_total", { listener: "proxy", route: "api", method: "POST" })).toBe(1);
  expect(valueOf(scrape, "sallyport_requests_total", { listener: "forward", route: "forward_fallback", code: "2xx" })).toBe(1);
  expect(valueOf(scrape, "sallyport_retries_total")).toBe(1);
  expect(valueOf(scrape, "sallyport_request_duration_seconds_count", { route: "api" })).toBe(3);
  expect(valueOf(scrape, "sallyport_upstream_duration_seconds_count", { route: "api" })).toBe(3);
});

test("the breaker that opened shows in its destination's gauge", () => {
  const dead = `${HOST}:${deadPort}`;
  expect(valueOf(scrape, "sallyport_circuit_breaker_state", { host: dead, state: "open" })).toBe(1);
  expect(valueOf(scrape, "sallyport_circuit_breaker_transitions_total", { host: dead, from: "closed", to: "open" })).toBe(1);
  expect(valueOf(scrape, "sallyport_destination_requests_total", { host: dead, outcome: "failure" })).toBe(3);
  expect(valueOf(scrape, "sallyport_destination_requests_total", { host: `${HOST}:${upstream.port}`, outcome: "success" })).toBe(6);
});

test("tunnel bytes match what went through, and the refusals are counted", () => {
  expect(valueOf(scrape, "sallyport_tunnel_bytes_total", { direction: "up" })).toBe(2 * TUNNEL_UP);
  expect(valueOf(scrape, "sallyport_tunnel_bytes_total", { direction: "down" })).toBe(2 * TUNNEL_DOWN);
  expect(valueOf(scrape, "sallyport_tunnels_open")).toBe(0);
  expect(valueOf(scrape, "sallyport_requests_total", { listener: "forward", method: "CONNECT", code: "2xx" })).toBe(2);
  expect(valueOf(scrape, "sallyport_request_errors_total", { listener: "forward", cause: "egress-denied" })).toBe(1);
  expect(valueOf(scrape, "sallyport_request_errors_total", { listener: "forward", cause: "connect-port-denied" })).toBe(1);
  expect(valueOf(scrape, "sallyport_egress_decisions_total", { reason: "not-in-allow-list" })).toBe(1);
  expect(valueOf(scrape, "sallyport_egress_decisions_total", { reason: "allow-rule" })).toBe(3);
});

test("secrets, DNS and the process are in the scrape", () => {
  expect(valueOf(scrape, "sallyport_secrets_reloads_total")).toBe(1);
  expect(valueOf(scrape, "sallyport_secrets_last_read_timestamp_seconds", { path: join(secretsDir, "token") })).toBeGreaterThan(1_600_000_000);
  expect(valueOf(scrape, "sallyport_dns_lookups_total")).toBe(1);
  expect(valueOf(scrape, "process_resident_memory_bytes")).toBeGreaterThan(0);
  // Nothing in flight on the proxy port; the forward port may keep fetch's idle connection.
  expect(parseSamples(scrape).filter((s) => s.name === "sallyport_listener_open").map((s) => s.labels.listener)).toEqual(["proxy", "forward"]);
  expect(valueOf(scrape, "sallyport_listener_open", { listener: "proxy" })).toBe(0);
});

test("no secret, credential or query string reaches a label — route ids and hosts only", () => {
  for (const secret of [SECRET, CLIENT_AUTH, "CLIENT-AUTH-77a9", QUERY_SECRET, "api_key", "token="]) expect(scrape).not.toContain(secret);
  const samples = parseSamples(scrape);
  const values = (label: string) => new Set(samples.flatMap((s) => (s.labels[label] === undefined ? [] : [s.labels[label]])));
  expect([...values("route")].sort()).toEqual(["", "api", "dead", "failing", "flaky", "forward_fallback", "limited"]);
  for (const host of values("host")) expect(host).toMatch(/^(127\.0\.0\.1:\d+|other)$/);
  for (const value of labelValues(scrape)) expect(value).not.toMatch(/[?=&\s]/);
});

test("promtool check metrics finds no problem", async () => {
  const promtool = Bun.which("promtool");
  if (!promtool) {
    console.warn("skipped: promtool is not installed (Debian package prometheus; .ci/run installs it)");
    return;
  }
  const proc = Bun.spawn([promtool, "check", "metrics"], { stdin: new TextEncoder().encode(scrape), stdout: "pipe", stderr: "pipe" });
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  expect(out + err).toBe("");
  expect(code).toBe(0);
});
