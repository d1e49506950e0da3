/**
 * CONNECT interception in-process: curl with `https_proxy` and our CA trusted reaches a TLS
 * upstream through the forward port; the requests inside the tunnel are routed (a route injects
 * a token), the upstream hop is TLS again, verified; a host not on -intercept-hosts stays a blind
 * tunnel with the upstream's own certificate; a client that does not trust our CA fails cleanly.
 * The leaf certificates here come from openssl (test/support); the CA module has its own tests.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createDialPlan } from "../../src/egress/dial.ts";
import { createResolver } from "../../src/egress/dns.ts";
import { createDestinationMatcher, createEgressPolicy } from "../../src/egress/policy.ts";
import { parseEgressList } from "../../src/egress/rules.ts";
import { parse } from "../../src/eskip/parser.ts";
import { Exchanges, type ExchangeRecord } from "../../src/exchange/record.ts";
import { buildTable } from "../../src/routing/build.ts";
import { buildFallbackTable, withFallback } from "../../src/routing/fallback.ts";
import { builtinRegistries } from "../../src/routing/registries.ts";
import { forwardListener, type ForwardListener } from "../../src/tunnel/forward.ts";
import { systemClock } from "../../src/util/clock.ts";
import { startTestDns, type TestDns } from "../support/dns.ts";
import { signLeaf } from "../support/forward-tls.ts";
import { makeTestPki, type TestPki } from "../support/tls.ts";

let pki: TestPki;
let dns: TestDns;
let upstream: ReturnType<typeof Bun.serve>;
let forward: ForwardListener;
let proxyUrl: string;
const seen: { host: string | null; authorization: string | null; path: string }[] = [];
const exchanges = new Exchanges(systemClock);
/** The tunnels' records, as they complete. */
const tunnels: ExchangeRecord[] = [];
exchanges.subscribe((r) => void (r.kind === "tunnel" && tunnels.push(r)));

beforeAll(async () => {
  pki = await makeTestPki();
  const upstreamLeaf = await signLeaf(pki, ["api.test", "blind.test"]);
  upstream = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    tls: { key: upstreamLeaf.key, cert: upstreamLeaf.cert },
    async fetch(req) {
      seen.push({ host: req.headers.get("host"), authorization: req.headers.get("authorization"), path: new URL(req.url).pathname });
      // Read whole before the answer: an answer that overtook the body could end the tunnel before the body was counted.
      await req.arrayBuffer();
      return new Response("from upstream");
    },
  });
  dns = await startTestDns();
  dns.answer("api.test", { A: ["127.0.0.1"] });
  dns.answer("blind.test", { A: ["127.0.0.1"] });
  const registries = builtinRegistries();
  const configured = buildTable(parse(`gh: Host("^api[.]test(:[0-9]+)?$") -> setRequestHeader("Authorization", "Bearer injected") -> <dynamic>`), registries);
  const policy = createEgressPolicy({ allow: parseEgressList("127.0.0.1").rules });
  const resolver = createResolver({ servers: [dns.address], family: "v4", minTtl: 0, maxTtl: 0, timeout: 1000, clock: systemClock });
  const leaves = new Map<string, Promise<{ certPem: string; keyPem: string }>>();
  forward = forwardListener({
    hostname: "127.0.0.1",
    port: 0,
    table: withFallback(() => configured, buildFallbackTable(registries, { egressSuffix: "", forward: true })),
    defaultStatus: 404,
    maxLoopbacks: 9,
    preserveHost: false,
    idleTimeoutMs: 10_000,
    upstream: { responseHeaderTimeout: 5_000, tls: { ca: [pki.ca] } },
    headTimeout: 5_000,
    connectPorts: [upstream.port!],
    dialPlan: createDialPlan({ policy: () => ({ policy, role: undefined }), resolver }),
    dialTimeout: 5_000,
    exchanges,
    clock: systemClock,
    log: { error() {}, warn() {} },
    intercept: {
      matches: createDestinationMatcher(parseEgressList("api.test").rules),
      leafFor: (host) => {
        let leaf = leaves.get(host);
        if (!leaf) leaves.set(host, (leaf = signLeaf(pki, [host]).then((l) => ({ certPem: l.cert, keyPem: l.key }))));
        return leaf;
      },
    },
  });
  proxyUrl = `http://${await forward.start()}`;
});

afterAll(async () => {
  await forward?.stop(0);
  upstream?.stop(true);
  dns?.stop();
});

async function curl(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const p = Bun.spawn(["curl", "-sS", "-x", proxyUrl, "--noproxy", "", "-v", ...args], { stdout: "pipe", stderr: "pipe" });
  const [stdout, stderr, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  return { code, stdout, stderr };
}

describe("an intercepted host", () => {
  test("its requests are routed inside the tunnel: the route's token reaches the TLS upstream", async () => {
    const r = await curl(["--cacert", pki.caFile, `https://api.test:${upstream.port}/inside?q=1`]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe("from upstream");
    expect(seen.at(-1)).toEqual({ host: `api.test:${upstream.port}`, authorization: "Bearer injected", path: "/inside" });
  });

  test("kept-alive requests inside one tunnel are each routed", async () => {
    const before = seen.length;
    const r = await curl(["--cacert", pki.caFile, `https://api.test:${upstream.port}/one`, `https://api.test:${upstream.port}/two`]);
    expect(r.code).toBe(0);
    expect(seen.slice(before).map((s) => [s.path, s.authorization])).toEqual([["/one", "Bearer injected"], ["/two", "Bearer injected"]]);
  });

  test("the tunnel's record counts the plaintext each way: the request curl sent inside it, the answer it got", async () => {
    // An earlier test's tunnel may still be closing: its record must not be taken for this one's.
    for (let i = 0; i < 200 && exchanges.open("tunnel") > 0; i++) await Bun.sleep(10);
    expect(exchanges.open("tunnel")).toBe(0);
    const before = tunnels.length;
    // No `Expect: 100-continue`: curl would skip the body when the answer came first, and count nothing up.
    const r = await curl(["--cacert", pki.caFile, "-H", "Expect:", "--data-binary", "x".repeat(2000), `https://api.test:${upstream.port}/counted`]);
    expect([r.code, r.stdout]).toEqual([0, "from upstream"]);
    for (let i = 0; i < 100 && tunnels.length === before; i++) await Bun.sleep(10);
    const [tunnel] = tunnels.slice(before);
    expect(tunnel?.host).toBe(`api.test:${upstream.port}`);
    // Curl's head and its 2000-byte body up; the answer's head and "from upstream" down. No TLS
    // handshake in either: the leaf certificate alone would add hundreds of bytes down.
    expect(tunnel!.bytesIn).toBeGreaterThan(2000 + "POST /counted HTTP/1.1\r\n\r\n".length);
    expect(tunnel!.bytesIn).toBeLessThan(2000 + 300);
    expect(tunnel!.bytesOut).toBeGreaterThan("HTTP/1.1 200 OK\r\n\r\nfrom upstream".length);
    expect(tunnel!.bytesOut).toBeLessThan(300);
  });

  test("a client that does not trust our CA fails cleanly, and nothing reaches the upstream", async () => {
    const before = seen.length;
    const r = await curl([`https://api.test:${upstream.port}/untrusted`]);
    expect(r.code).toBe(60); // curl: peer certificate cannot be authenticated
    expect(seen.length).toBe(before);
  });
});

describe("a host not on -intercept-hosts", () => {
  test("stays a blind tunnel: no token, the upstream's own handshake end to end", async () => {
    const r = await curl(["--cacert", pki.caFile, `https://blind.test:${upstream.port}/blind`]);
    expect(r.code).toBe(0);
    expect(seen.at(-1)).toEqual({ host: `blind.test:${upstream.port}`, authorization: null, path: "/blind" });
    // The upstream's certificate (first name api.test); a leaf of ours would be CN=blind.test.
    expect(r.stderr).toContain("subject: CN=api.test");
  });
});
