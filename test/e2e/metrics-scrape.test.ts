/**
 * /metrics as the compiled binary wires it (test/metrics/scrape.test.ts builds the same metrics
 * in process): TLS listeners on -address and the forward port, a support listener, a route with a
 * ratelimit filter and a -ratelimits global limit, a -breaker for a dead destination that opens,
 * forward requests and a CONNECT to a name the test DNS server answers (-dns-servers), tunnels
 * that carry a known number of bytes, CONNECTs the egress policy and -connect-ports refuse, a
 * secret injected. Then one scrape: `promtool check metrics` must find no problem (skipped when
 * promtool is missing; CI installs it), and the values by family match the traffic sent.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import type { Socket, TCPSocketListener } from "bun";
import { X509Certificate } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ONE_PROCESS, startProxy, type RunningProxy } from "../support/binary.ts";
import { startTestDns, type TestDns } from "../support/dns.ts";
import { makeTestPki, type TestPki } from "../support/tls.ts";
import { labelValues, parseSamples, valueOf } from "../metrics/samples.ts";

const HOST = "127.0.0.1";
const SECRET = "METRICS-E2E-SECRET-6b0d";
const TUNNEL_UP = 1500;
const TUNNEL_DOWN = 4000;
/** Nothing listens on port 1, and no listener of this test can be given it. */
const DEAD = `${HOST}:1`;

let dir: string;
let pki: TestPki;
let dns: TestDns;
let upstream: ReturnType<typeof Bun.serve>;
let target: TCPSocketListener<{ got: number }>;
let proxy: RunningProxy;
let scrape: string;

/**
 * One connection to a TLS port of the proxy: writes `head`, and once a `200` is back on a
 * CONNECT, `up` bytes into the tunnel; resolves with the status line and every byte after the
 * head, when the proxy closes (or, in a tunnel, once TUNNEL_DOWN bytes are in).
 */
async function overTls(port: number, head: string, up = 0): Promise<{ status: string; body: number }> {
  const { promise, resolve } = Promise.withResolvers<{ status: string; body: number }>();
  let text = "";
  let status: string | undefined;
  let body = 0;
  const done = () => resolve({ status: status ?? "", body });
  await Bun.connect({
    hostname: HOST,
    port,
    tls: { ca: pki.ca, serverName: "localhost" },
    socket: {
      // What is written before the handshake is done does not arrive.
      handshake: (s, verified, error) => void (verified ? s.write(head) : (console.error(error), s.end())),
      data(s: Socket, bytes) {
        if (status === undefined) {
          text += Buffer.from(bytes).toString("latin1");
          const end = text.indexOf("\r\n\r\n");
          if (end < 0) return;
          status = text.slice(0, text.indexOf("\r\n"));
          body += text.length - end - 4;
          if (up > 0 && status.startsWith("HTTP/1.1 200")) s.write(new Uint8Array(up).fill(0x61));
        } else body += bytes.length;
        if (up > 0 && body >= TUNNEL_DOWN) s.end();
      },
      close: done,
      error: done,
    },
  });
  return promise;
}

const connectHead = (authority: string) => `CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\n\r\n`;
const forwardGet = (authority: string, path: string) => `GET http://${authority}${path} HTTP/1.1\r\nHost: ${authority}\r\nConnection: close\r\n\r\n`;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "sallyport-metrics-e2e-"));
  pki = await makeTestPki();
  upstream = Bun.serve({
    hostname: HOST,
    port: 0,
    fetch: (req) => (new URL(req.url).pathname === "/fail" ? new Response("no", { status: 503 }) : new Response("ok")),
  });
  // The tunnels' far end: once it has TUNNEL_UP bytes, it answers TUNNEL_DOWN and closes.
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
  dns = await startTestDns();
  dns.answer("api.test", { A: [HOST], ttl: 300 });
  await writeFile(join(dir, "token"), `${SECRET}\n`);
  await writeFile(join(dir, "tls.crt"), pki.cert);
  await writeFile(join(dir, "tls.key"), pki.key);
  const up = `http://${HOST}:${upstream.port}`;
  proxy = await startProxy([
    // one process, one DNS cache: the DNS test counts its questions (the merge of several
    // workers' scrapes is test/e2e/workers.test.ts's)
    ...ONE_PROCESS,
    "-tls-cert", join(dir, "tls.crt"),
    "-tls-key", join(dir, "tls.key"),
    "-forward-address", `${HOST}:0`,
    "-connect-ports", `${target.port},${upstream.port}`,
    "-egress-allow", HOST,
    "-dns-servers", dns.address,
    "-dns-lookup-family", "v4",
    "-credentials-paths", join(dir, "token"),
    "-breaker", `host=${DEAD},type=consecutive,failures=2,timeout=1h`,
    // A global limit no request here reaches: its series is there, at 0.
    "-ratelimits", "type=client,max-hits=10000,time-window=1h",
    "-access-log-disabled",
    "-inline-routes", [
      `api: Path("/api") -> bearerinjector("${join(dir, "token")}") -> "${up}"`,
      `failing: Path("/fail") -> "${up}"`,
      `limited: Path("/limited") -> ratelimit(1, "1h") -> "${up}"`,
      `dead: Path("/dead") -> "http://${DEAD}"`,
    ].join(";\n"),
  ]);

  const get = async (path: string) => {
    const res = await fetch(`https://${HOST}:${proxy.port}${path}`, { tls: { ca: pki.ca } });
    await res.arrayBuffer();
    return res.status;
  };
  const statuses = [];
  for (const path of ["/api", "/api", "/fail", "/limited", "/limited", "/dead", "/dead", "/dead", "/nowhere"]) statuses.push(await get(path));
  expect(statuses).toEqual([200, 200, 503, 200, 429, 502, 502, 503, 404]);

  const forward = proxy.forwardPort!;
  const results = [
    // Relayed by the fallback's <dynamic>: api.test looked up, then answered from the cache.
    await overTls(forward, forwardGet(`api.test:${upstream.port}`, "/relayed")),
    await overTls(forward, forwardGet(`api.test:${upstream.port}`, "/relayed")),
    // Tunnels, by name (from the cache again) and by address.
    await overTls(forward, connectHead(`api.test:${target.port}`), TUNNEL_UP),
    await overTls(forward, connectHead(`${HOST}:${target.port}`), TUNNEL_UP),
    // Refused: an address the allow list leaves out, a port -connect-ports leaves out.
    await overTls(forward, connectHead(`127.0.0.2:${target.port}`)),
    await overTls(forward, connectHead(`${HOST}:22`)),
  ];
  expect(results.map((r) => r.status.slice(9, 12))).toEqual(["200", "200", "200", "200", "403", "403"]);
  expect(results.slice(2, 4).map((r) => r.body)).toEqual([TUNNEL_DOWN, TUNNEL_DOWN]);

  // A tunnel's sample is counted when its record completes, just after the close.
  const url = `${proxy.supportUrl}/metrics`;
  for (let i = 0; i < 100; i++) {
    scrape = await (await fetch(url)).text();
    if (valueOf(scrape, "sallyport_tunnel_bytes_total", { direction: "down" }) >= 2 * TUNNEL_DOWN && valueOf(scrape, "sallyport_tunnels_open") === 0) break;
    await Bun.sleep(20);
  }
}, 60_000);

afterAll(async () => {
  await proxy?.stop();
  upstream?.stop(true);
  target?.stop(true);
  dns?.stop();
  await Promise.all([dir, pki?.dir].filter(Boolean).map((d) => rm(d!, { recursive: true, force: true })));
});

test("promtool check metrics finds no problem in the binary's scrape", async () => {
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

test("requests by listener, route and status class", () => {
  const count = (listener: string, route: string, code: string) => valueOf(scrape, "sallyport_requests_total", { listener, route, code });
  expect([count("proxy", "api", "2xx"), count("proxy", "failing", "5xx"), count("proxy", "limited", "2xx"), count("proxy", "limited", "4xx"), count("proxy", "dead", "5xx"), count("proxy", "", "4xx")]).toEqual([2, 1, 1, 1, 3, 1]);
  expect(valueOf(scrape, "sallyport_requests_total", { listener: "proxy" })).toBe(9);
  expect(count("forward", "forward_fallback", "2xx")).toBe(2);
  expect(valueOf(scrape, "sallyport_requests_total", { listener: "forward", method: "CONNECT", code: "2xx" })).toBe(2);
  expect(valueOf(scrape, "sallyport_requests_total", { listener: "forward", method: "CONNECT", code: "4xx" })).toBe(2);
  expect(valueOf(scrape, "sallyport_request_duration_seconds_count", { route: "api" })).toBe(2);
});

test("rate limits: the route's filter refused one request, the global limit none", () => {
  expect(valueOf(scrape, "sallyport_ratelimit_rejections_total", { limit: "service" })).toBe(1);
  expect(parseSamples(scrape).some((s) => s.name === "sallyport_ratelimit_rejections_total" && s.labels.limit === "global")).toBe(true);
  expect(valueOf(scrape, "sallyport_ratelimit_rejections_total", { limit: "global" })).toBe(0);
  expect(valueOf(scrape, "sallyport_request_errors_total", { listener: "proxy", cause: "rate-limited" })).toBe(1);
});

test("the -breaker for the dead destination opened after two failures", () => {
  expect(valueOf(scrape, "sallyport_circuit_breaker_state", { host: DEAD, state: "open" })).toBe(1);
  expect(valueOf(scrape, "sallyport_circuit_breaker_transitions_total", { host: DEAD, from: "closed", to: "open" })).toBe(1);
  expect(valueOf(scrape, "sallyport_request_errors_total", { listener: "proxy", cause: "circuit-open" })).toBe(1);
});

test("DNS: api.test looked up three times through the test server, asked once, then from the cache", () => {
  expect(dns.queries).toEqual(["api.test A"]);
  expect(valueOf(scrape, "sallyport_dns_lookups_total")).toBe(3);
  expect(valueOf(scrape, "sallyport_dns_cache_hits_total")).toBe(2);
  expect(valueOf(scrape, "sallyport_dns_queries_total")).toBe(1);
  expect(valueOf(scrape, "sallyport_dns_failures_total")).toBe(0);
});

test("tunnel bytes are what went through the two tunnels; the refusals are counted by cause", () => {
  expect(valueOf(scrape, "sallyport_tunnel_bytes_total", { direction: "up" })).toBe(2 * TUNNEL_UP);
  expect(valueOf(scrape, "sallyport_tunnel_bytes_total", { direction: "down" })).toBe(2 * TUNNEL_DOWN);
  expect(valueOf(scrape, "sallyport_tunnels_open")).toBe(0);
  expect(valueOf(scrape, "sallyport_request_errors_total", { listener: "forward", cause: "egress-denied" })).toBe(1);
  expect(valueOf(scrape, "sallyport_request_errors_total", { listener: "forward", cause: "connect-port-denied" })).toBe(1);
});

test("egress decisions by reason: four allowed by the rule, one outside the allow list", () => {
  expect(valueOf(scrape, "sallyport_egress_decisions_total", { reason: "allow-rule" })).toBe(4);
  expect(valueOf(scrape, "sallyport_egress_decisions_total", { reason: "not-in-allow-list" })).toBe(1);
});

test("the TLS listeners' certificate expiry, the secret's reload; no secret in a label", () => {
  const notAfter = new X509Certificate(pki.cert).validToDate.getTime() / 1000;
  expect(valueOf(scrape, "sallyport_tls_certificate_expiry_timestamp_seconds", { listener: "proxy" })).toBe(notAfter);
  expect(valueOf(scrape, "sallyport_tls_certificate_expiry_timestamp_seconds", { listener: "forward" })).toBe(notAfter);
  expect(valueOf(scrape, "sallyport_secrets_reloads_total")).toBeGreaterThanOrEqual(1);
  expect(valueOf(scrape, "sallyport_secrets_last_read_timestamp_seconds", { path: join(dir, "token") })).toBeGreaterThan(1_600_000_000);
  expect(scrape).not.toContain(SECRET);
  for (const value of labelValues(scrape)) expect(value).not.toContain(SECRET);
});
