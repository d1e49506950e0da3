/**
 * Issue 8: the special-purpose ranges other than the loopback "are tested on the policy decision
 * itself, with a dialer that fails the test if it is ever called". Every such range, as a literal
 * (with the numeric spellings that matter) and as a name our test DNS server (a real UDP server on
 * 127.0.0.1) answers with it, goes down the real request paths in-process:
 *
 * - CONNECT on the forward listener: serveConnect → the dial plan → openTunnel;
 * - absolute-form on the forward listener: the front → the route engine → the `<dynamic>`
 *   fallback → pipeline.sendDynamic → the dial plan → our HTTP client;
 * - `<dynamic>` on the proxy listener (`-address`), the destination in Host.
 *
 * Both ways out of the proxy are tripwires that record the destination and fail the dial without
 * opening anything: openTunnel's connect (`tunnelConnector`, ../../src/tunnel/connect.ts) and the
 * handlers' HttpClient. The one real connection allowed is the forward front's to its own engine.
 *
 * Under the default policy every destination must get 403 `egress-denied` naming its range, and
 * no tripwire may fire. Under `-egress-allow-private` (and an IP or CIDR allow rule, for the
 * addresses it names) the same requests must reach the tripwire with exactly the checked address:
 * that is what shows the tripwires sit in the path and would catch a guard that let one through.
 * Before any non-loopback destination is sent, each path is shown to reach its tripwire with a
 * loopback one (127.0.0.3), so a seam that stopped working could only ever dial the loopback.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, test } from "bun:test";
import { HttpClient, type ClientCall, type ClientRequest } from "../../src/client/client.ts";
import { createDialPlan } from "../../src/egress/dial.ts";
import { createResolver } from "../../src/egress/dns.ts";
import { createEgressPolicy, type EgressPolicy } from "../../src/egress/policy.ts";
import type { SpecialRange } from "../../src/egress/ranges.ts";
import { parseEgressList } from "../../src/egress/rules.ts";
import { parse } from "../../src/eskip/parser.ts";
import { Exchanges } from "../../src/exchange/record.ts";
import type { Listener } from "../../src/net/listener.ts";
import { parseNumericHost } from "../../src/net/numeric-host.ts";
import { proxyListener } from "../../src/proxy/listener.ts";
import { buildTable } from "../../src/routing/build.ts";
import { buildFallbackTable } from "../../src/routing/fallback.ts";
import { builtinRegistries } from "../../src/routing/registries.ts";
import { tunnelConnector } from "../../src/tunnel/connect.ts";
import { forwardListener, type ForwardListener } from "../../src/tunnel/forward.ts";
import { systemClock } from "../../src/util/clock.ts";
import { startTestDns, type TestDns } from "../support/dns.ts";
import { rawRequest } from "../support/raw.ts";

// ---------------------------------------------------------------------------------------------
// The destinations: every non-loopback special-purpose range
// ---------------------------------------------------------------------------------------------

/** [the host as a client writes it (IPv6 without brackets), the range named, the address it is] */
type Literal = readonly [host: string, range: SpecialRange, address: string];

const LITERALS: readonly Literal[] = [
  ["10.0.0.1", "private", "10.0.0.1"],
  ["172.16.0.1", "private", "172.16.0.1"],
  ["172.31.255.254", "private", "172.31.255.254"],
  ["192.168.1.1", "private", "192.168.1.1"],
  ["100.64.0.1", "cgnat", "100.64.0.1"],
  ["100.127.255.254", "cgnat", "100.127.255.254"],
  ["169.254.169.254", "cloud-metadata", "169.254.169.254"],
  ["169.254.1.1", "link-local", "169.254.1.1"],
  ["0.1.2.3", "this-network", "0.1.2.3"],
  ["192.0.0.9", "ietf-protocol", "192.0.0.9"],
  ["192.0.2.1", "documentation", "192.0.2.1"],
  ["198.18.0.1", "benchmarking", "198.18.0.1"],
  ["198.19.255.254", "benchmarking", "198.19.255.254"],
  ["198.51.100.1", "documentation", "198.51.100.1"],
  ["203.0.113.1", "documentation", "203.0.113.1"],
  ["224.0.0.1", "multicast", "224.0.0.1"],
  ["239.255.255.250", "multicast", "239.255.255.250"],
  ["240.0.0.1", "reserved", "240.0.0.1"],
  ["255.255.255.254", "reserved", "255.255.255.254"],
  ["255.255.255.255", "broadcast", "255.255.255.255"],
  ["192.88.99.1", "6to4-relay", "192.88.99.1"],
  ["192.31.196.1", "as112", "192.31.196.1"],
  ["192.175.48.6", "as112", "192.175.48.6"],
  ["192.52.193.1", "amt", "192.52.193.1"],
  ["fd00::1", "unique-local", "fd00::1"],
  ["fc00::1", "unique-local", "fc00::1"],
  ["fd00:ec2::254", "cloud-metadata", "fd00:ec2::254"],
  ["fe80::1", "link-local", "fe80::1"],
  ["fec0::1", "site-local", "fec0::1"],
  ["ff02::1", "multicast", "ff02::1"],
  ["ff0e::1", "multicast", "ff0e::1"],
  ["2001:db8::1", "documentation", "2001:db8::1"],
  ["3fff::1", "documentation", "3fff::1"],
  ["100::1", "discard-only", "100::1"],
  ["2001:2::1", "benchmarking", "2001:2::1"],
  ["2001:1::1", "ietf-protocol", "2001:1::1"],
  ["2001:30::1", "ietf-protocol", "2001:30::1"],
  ["2001:3::1", "amt", "2001:3::1"],
  ["2001:4:112::1", "as112", "2001:4:112::1"],
  ["2620:4f:8000::1", "as112", "2620:4f:8000::1"],
  ["2001:20::1", "orchid", "2001:20::1"],
  ["4000::1", "reserved", "4000::1"],
  // IPv6 forms that carry a private IPv4 are named by it
  ["64:ff9b::a00:1", "private", "64:ff9b::a00:1"], // NAT64 of 10.0.0.1
  ["64:ff9b::192.168.1.1", "private", "64:ff9b::c0a8:101"],
  ["64:ff9b::a9fe:a9fe", "cloud-metadata", "64:ff9b::a9fe:a9fe"],
  ["64:ff9b:1::a00:1", "private", "64:ff9b:1::a00:1"], // the local-use NAT64 prefix
  ["2002:a00:1::1", "private", "2002:a00:1::1"], // 6to4 of 10.0.0.1
  ["2002:c0a8:101::", "private", "2002:c0a8:101::"], // 6to4 of 192.168.1.1
  ["2001:0:4136:e378:8000:63bf:f5ff:fffe", "private", "2001:0:4136:e378:8000:63bf:f5ff:fffe"], // Teredo, client ~0xf5fffffe = 10.0.0.1
  ["2001:0:4136:e378:8000:63bf:5601:5601", "cloud-metadata", "2001:0:4136:e378:8000:63bf:5601:5601"], // Teredo of 169.254.169.254
  ["::ffff:10.0.0.1", "private", "::ffff:a00:1"],
  ["::ffff:a9fe:a9fe", "cloud-metadata", "::ffff:a9fe:a9fe"],
  ["::10.0.0.1", "private", "::a00:1"], // IPv4-compatible
  // numeric spellings, each read once as the address it is
  ["0xa.0.0.1", "private", "10.0.0.1"],
  ["167772161", "private", "10.0.0.1"],
  ["012.0.0.1", "private", "10.0.0.1"],
  ["10.1", "private", "10.0.0.1"],
  ["0x0a000001", "private", "10.0.0.1"],
  ["0300.0250.1.1", "private", "192.168.1.1"],
  ["192.168.257", "private", "192.168.1.1"],
  ["2852039166", "cloud-metadata", "169.254.169.254"],
  ["0xa9.0xfe.0xa9.0xfe", "cloud-metadata", "169.254.169.254"],
  ["0251.0376.0251.0376", "cloud-metadata", "169.254.169.254"],
  ["100.64.1", "cgnat", "100.64.0.1"],
  ["10.0.0.1.", "private", "10.0.0.1"],
  ["0:0:0:0:0:ffff:a00:1", "private", "::ffff:a00:1"],
  ["FD00:0:0:0:0:0:0:1", "unique-local", "fd00::1"],
];

/** A name the test DNS server answers with one special address. */
interface Named {
  readonly name: string;
  readonly range: SpecialRange;
  readonly address: string;
}

/** Every address of the literals, once, as the answer for a name of its own. */
const NAMED: readonly Named[] = [...new Map(LITERALS.map(([, range, address]) => [address, range])).entries()].map(([address, range], i) => ({ name: `n${i}.tripwire.test`, range, address }));

// ---------------------------------------------------------------------------------------------
// The tripwires
// ---------------------------------------------------------------------------------------------

/** Every dial a tripwire stopped: `tunnel ADDRESS:PORT` or `client ADDRESS:PORT`. */
const hits: string[] = [];
const realConnect = tunnelConnector.connect;
/** the forward front's engine: the one destination openTunnel may really dial */
let enginePort = -1;

/** A dial the tripwire stopped, as the caller sees a refused connect: nothing was opened. */
const stopped = (what: string) => Promise.reject(new Error(`tripwire: the proxy tried to dial ${what}`));

const tripwireConnect = ((options: { hostname?: string; port?: number }) => {
  if (options.hostname === "127.0.0.1" && options.port === enginePort) return realConnect(options as Parameters<typeof Bun.connect>[0]);
  const where = `${options.hostname}:${options.port}`;
  hits.push(`tunnel ${where}`);
  return stopped(where);
}) as unknown as typeof Bun.connect;

/** Our HTTP client, with the connection it would open replaced by the tripwire. */
class TripwireClient extends HttpClient {
  override request(request: ClientRequest): ClientCall {
    const where = `${request.hostname}:${request.port}`;
    hits.push(`client ${where}`);
    const response = stopped(where);
    response.catch(() => {});
    return { response, abort() {} };
  }
}

// ---------------------------------------------------------------------------------------------
// The proxy in-process: a forward listener and a proxy listener on one switchable policy
// ---------------------------------------------------------------------------------------------

let dns: TestDns;
let forward: ForwardListener;
let proxy: Listener;
let forwardPort: number;
let proxyPort: number;
/** the policy every dial plan here reads, switched by each test */
let policy: EgressPolicy = createEgressPolicy();

const DEFAULT = createEgressPolicy();
const ALLOW_PRIVATE = createEgressPolicy({ allowPrivate: true });

const CONNECT_PORT = 443;
const HTTP_PORT = 80;

beforeAll(async () => {
  tunnelConnector.connect = tripwireConnect;
  dns = await startTestDns();
  for (const { name, address } of NAMED) dns.answer(name, address.includes(":") ? { AAAA: [address], ttl: 1 } : { A: [address], ttl: 1 });
  const resolver = createResolver({ servers: [dns.address], family: "any", minTtl: 0, maxTtl: 0, timeout: 2000, clock: systemClock });
  const dialPlan = createDialPlan({ policy: () => ({ policy, role: undefined }), resolver });
  const registries = builtinRegistries();
  const common = {
    hostname: "127.0.0.1",
    port: 0,
    defaultStatus: 404,
    maxLoopbacks: 9,
    preserveHost: false,
    idleTimeoutMs: 10_000,
    upstream: { responseHeaderTimeout: 5_000, client: new TripwireClient() },
    dialPlan,
    clock: systemClock,
    log: { error() {}, warn() {} },
  };
  forward = forwardListener({
    ...common,
    table: () => buildFallbackTable(registries, { egressSuffix: "", forward: true }),
    headTimeout: 5_000,
    connectPorts: [CONNECT_PORT],
    dialTimeout: 5_000,
    exchanges: new Exchanges(systemClock),
  });
  forwardPort = Number((await forward.start()).split(":").pop());
  enginePort = Number(forward.engineAddress!.split(":").pop());
  const dynamic = buildTable(parse(`dynamic: * -> <dynamic>`), registries);
  proxy = proxyListener({ ...common, table: () => dynamic });
  proxyPort = Number((await proxy.start()).split(":").pop());
});

afterAll(async () => {
  await forward?.stop(0);
  await proxy?.stop(0);
  dns?.stop();
  tunnelConnector.connect = realConnect;
});

beforeEach(() => {
  policy = DEFAULT;
});

// ---------------------------------------------------------------------------------------------
// The three paths
// ---------------------------------------------------------------------------------------------

interface Reply {
  readonly status: number;
  readonly error: string | undefined;
  readonly body: string;
}

function parseReply(raw: string): Reply {
  const end = raw.indexOf("\r\n\r\n");
  const [statusLine = "", ...lines] = raw.slice(0, end < 0 ? raw.length : end).split("\r\n");
  const error = lines.find((l) => l.toLowerCase().startsWith("x-sallyport-error:"));
  return { status: Number(statusLine.split(" ")[1]), error: error?.slice(error.indexOf(":") + 1).trim(), body: end < 0 ? "" : raw.slice(end + 4) };
}

const bracketed = (host: string) => (host.includes(":") ? `[${host}]` : host);

interface Path {
  readonly name: string;
  readonly port: number;
  /** which tripwire it ends at */
  readonly tripwire: "tunnel" | "client";
  send(host: string): Promise<Reply>;
}

const PATHS: readonly Path[] = [
  {
    name: "CONNECT on the forward port",
    port: CONNECT_PORT,
    tripwire: "tunnel",
    send: async (host) => {
      const authority = `${bracketed(host)}:${CONNECT_PORT}`;
      return parseReply(await rawRequest(forwardPort, `CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\n\r\n`));
    },
  },
  {
    name: "absolute-form on the forward port",
    port: HTTP_PORT,
    tripwire: "client",
    send: async (host) => {
      const authority = `${bracketed(host)}:${HTTP_PORT}`;
      return parseReply(await rawRequest(forwardPort, `GET http://${authority}/probe HTTP/1.1\r\nHost: ${authority}\r\nConnection: close\r\n\r\n`));
    },
  },
  {
    name: "<dynamic> on -address, by Host",
    port: HTTP_PORT,
    tripwire: "client",
    send: async (host) => parseReply(await rawRequest(proxyPort, `GET /probe HTTP/1.1\r\nHost: ${bracketed(host)}:${HTTP_PORT}\r\nConnection: close\r\n\r\n`)),
  },
];

/** The address as the dial plan hands it on (canonical text), for comparing with what a tripwire saw. */
const canonical = (address: string) => {
  const read = parseNumericHost(address);
  if (read.kind !== "ip") throw new Error(`${address} is no address`);
  return read.address;
};

const wired = new Map<string, Promise<void>>();

/**
 * Proves, once per path, that a loopback destination the policy lets through ends at the path's
 * tripwire. Every test awaits it before sending anything else: were the seam ever bypassed, only
 * 127.0.0.3 would have been dialed, and the test stops there.
 */
function ensureWired(path: Path): Promise<void> {
  let proof = wired.get(path.name);
  if (!proof) {
    proof = (async () => {
      const saved = policy;
      policy = ALLOW_PRIVATE;
      const before = hits.length;
      try {
        await path.send("127.0.0.3");
      } finally {
        policy = saved;
      }
      const seen = hits.slice(before);
      hits.splice(before);
      if (seen.join() !== `${path.tripwire} 127.0.0.3:${path.port}`) {
        throw new Error(`${path.name}: the ${path.tripwire} tripwire is not in the path (it saw ${JSON.stringify(seen)}): nothing more is sent`);
      }
    })();
    wired.set(path.name, proof);
  }
  return proof;
}

/** 403 egress-denied naming `range` (or saying `why`), and nothing dialed. */
async function expectRefused(path: Path, host: string, range: SpecialRange | { why: string }): Promise<Reply> {
  await ensureWired(path);
  const before = hits.length;
  const reply = await path.send(host);
  expect(hits.slice(before)).toEqual([]);
  expect({ status: reply.status, error: reply.error }).toEqual({ status: 403, error: "egress-denied" });
  expect(reply.body).toContain(typeof range === "string" ? `a ${range} address` : range.why);
  return reply;
}

/** The request reached the tripwire with exactly `address` (and was answered 502: nothing was opened). */
async function expectDialed(path: Path, host: string, address: string): Promise<void> {
  await ensureWired(path);
  const before = hits.length;
  const reply = await path.send(host);
  expect(hits.slice(before).map((hit) => hit.replace(/ (.*):(\d+)$/, (_m, a: string, p: string) => ` ${canonical(a)}:${p}`))).toEqual([`${path.tripwire} ${canonical(address)}:${path.port}`]);
  expect(reply.status).toBe(502);
}

// ---------------------------------------------------------------------------------------------
// The tests
// ---------------------------------------------------------------------------------------------

for (const path of PATHS) {
  describe(path.name, () => {
    describe("the default guard refuses every special range before anything is dialed", () => {
      test.each(LITERALS)("literal %s → %s", async (host, range) => {
        const reply = await expectRefused(path, host, range);
        // A numeric host is its own address: nothing was resolved.
        expect(reply.body).not.toContain("resolves to");
      });

      test.each(NAMED)("name answered with $address → $range", async ({ name, address, range }) => {
        const asked = dns.queries.length;
        const reply = await expectRefused(path, name, range);
        expect(dns.queries.slice(asked).some((q) => q.startsWith(`${name} `))).toBe(true);
        expect(reply.body).toContain(`${name}:${path.port} resolves to`);
        expect(canonical(reply.body.match(/resolves to (\S+),/)![1]!)).toBe(canonical(address));
      });
    });

    describe("-egress-allow-private opens them all: the very same requests reach the tripwire", () => {
      test.each(LITERALS)("literal %s is dialed as %s's address", async (host, _range, address) => {
        policy = ALLOW_PRIVATE;
        await expectDialed(path, host, address);
      });

      test.each(NAMED)("name answered with $address is dialed there", async ({ name, address }) => {
        policy = ALLOW_PRIVATE;
        await expectDialed(path, name, address);
      });
    });

    describe("an IP or CIDR on -egress-allow opens exactly that", () => {
      const allowing = (list: string) => createEgressPolicy({ allow: parseEgressList(list).rules });

      const offList = { why: "is not on the egress allow list" };

      test("an allowed IP is dialed (however it is spelled), its neighbour is refused", async () => {
        policy = allowing("10.0.0.1,fd00::1");
        await expectDialed(path, "10.0.0.1", "10.0.0.1");
        await expectDialed(path, "0xa.0.0.1", "10.0.0.1");
        await expectDialed(path, "fd00::1", "fd00::1");
        await expectRefused(path, "10.0.0.2", offList);
        await expectRefused(path, "fd00::2", offList);
      });

      test("an allowed CIDR opens its network and nothing next to it", async () => {
        policy = allowing("192.168.0.0/16,2001::/23");
        await expectDialed(path, "192.168.5.5", "192.168.5.5");
        await expectDialed(path, "2001:30::1", "2001:30::1");
        await expectRefused(path, "172.16.0.1", offList);
        await expectRefused(path, "2001:db8::1", offList);
      });

      test("a name on the allow list does not open the special address it resolves to; an allowed IPv4 does not open its NAT64 form", async () => {
        policy = allowing("10.0.0.1,nat64.tripwire.test,private.tripwire.test");
        dns.answer("nat64.tripwire.test", { AAAA: ["64:ff9b::a00:1"], ttl: 1 });
        dns.answer("private.tripwire.test", { A: ["10.0.0.2"], ttl: 1 });
        await expectRefused(path, "nat64.tripwire.test", "private");
        await expectRefused(path, "private.tripwire.test", "private");
        await expectRefused(path, "64:ff9b::a00:1", offList);
      });
    });
  });
}
