/**
 * Issue 8 end to end: the egress policy on every destination a client chooses — CONNECT and
 * absolute-form requests on the forward port (`-forward-address`), `<dynamic>` routes on
 * `-address` — against the compiled binary: the private-address guard against every spelling of
 * the loopback, names our test DNS server resolves to the loopback, DNS rebinding, DNS failures,
 * allow and deny rules and files, and the decision log lines.
 *
 * Only loopback addresses are ever involved. One port number P is held on three addresses:
 *
 * - 127.0.0.2:P, the "public" upstream: an address a proxy's policy names explicitly
 *   (`-egress-allow 127.0.0.2`, a CIDR, or `-egress-allow-private` with name rules).
 * - 127.0.0.1:P and [::1]:P, the bystanders: they count every connection and must never get one.
 *   Every probe names port P, so a guard that let a probe through would reach a bystander (and
 *   be answered by it) rather than fail to connect.
 *
 * The test DNS server answers `*.test` names with loopback addresses; anything it was not told
 * about is NXDOMAIN.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, test } from "bun:test";
import { mkdtemp, rename, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Server, TCPSocketListener } from "bun";
import { ONE_PROCESS, startProxy, type RunningProxy } from "../support/binary.ts";
import { curl, type CurlResult } from "../support/curl.ts";
import { startTestDns, type TestDns } from "../support/dns.ts";
import { rawRequest } from "../support/raw.ts";

// ---------------------------------------------------------------------------------------------
// The loopback world: the public upstream and the bystanders on one port
// ---------------------------------------------------------------------------------------------

interface World {
  readonly port: number;
  /** one entry per connection a bystander accepted: must stay empty */
  readonly bystanderHits: string[];
  /** the Host header of every request the public upstream (127.0.0.2:P) got */
  readonly publicRequests: string[];
  stop(): void;
}

async function startWorld(): Promise<World> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const bystanderHits: string[] = [];
    const publicRequests: string[] = [];
    const upstream: Server<undefined> = Bun.serve({
      hostname: "127.0.0.2",
      port: 0,
      fetch(req) {
        const host = req.headers.get("host") ?? "";
        publicRequests.push(host);
        return Response.json({ upstream: "public", host }, { headers: { "x-upstream": "public" } });
      },
    });
    const port = upstream.port!;
    const bystanders: TCPSocketListener<undefined>[] = [];
    try {
      for (const hostname of ["127.0.0.1", "::1"]) {
        bystanders.push(
          Bun.listen<undefined>({
            hostname,
            port,
            exclusive: true,
            socket: {
              open(socket) {
                bystanderHits.push(`${hostname}:${port} from ${socket.remoteAddress}`);
                socket.end("HTTP/1.1 200 OK\r\nx-upstream: bystander\r\ncontent-length: 9\r\nconnection: close\r\n\r\nbystander");
              },
              data() {},
            },
          }),
        );
      }
    } catch {
      // P is taken on 127.0.0.1 or ::1 by someone else: try another P.
      for (const b of bystanders) b.stop(true);
      upstream.stop(true);
      continue;
    }
    return {
      port,
      bystanderHits,
      publicRequests,
      stop() {
        for (const b of bystanders) b.stop(true);
        upstream.stop(true);
      },
    };
  }
  throw new Error("no port free on 127.0.0.1, 127.0.0.2 and ::1 at once");
}

// Allowed destinations are logged at debug (one below -egress-log-level info): every proxy here logs at debug, so the tests read those lines too.
let world: World;
let dns: TestDns;
/** the shared port P */
let P: number;

beforeAll(async () => {
  world = await startWorld();
  P = world.port;
  dns = await startTestDns();
});

afterAll(() => {
  world?.stop();
  dns?.stop();
});

/** bystander hits when the running test began: each test answers for its own */
let hitsBefore = 0;
beforeEach(() => {
  hitsBefore = world.bystanderHits.length;
});

/** The proxy never connected to 127.0.0.1:P or [::1]:P during this test (checked at the end of each). */
function expectBystandersUntouched(): void {
  expect(world.bystanderHits.slice(hitsBefore)).toEqual([]);
}

const queriesFor = (name: string) => dns.queries.filter((q) => q.split(" ")[0] === name);

// ---------------------------------------------------------------------------------------------
// Clients: raw CONNECT, raw absolute-form, curl -x, <dynamic> on -address
// ---------------------------------------------------------------------------------------------

interface Reply {
  status: number;
  headers: Record<string, string>;
  body: string;
  /** what followed the first response (through a CONNECT tunnel: the upstream's response) */
  rest: string;
}

/**
 * The first HTTP/1.1 response in `raw`; the body read by Content-Length, else to the end — but a
 * CONNECT's 2xx has no body (RFC 9110 §9.3.6): what follows comes through the tunnel.
 */
function parseReply(raw: string, connected = false): Reply {
  const end = raw.indexOf("\r\n\r\n");
  if (end < 0) return { status: 0, headers: {}, body: raw, rest: "" };
  const [statusLine = "", ...lines] = raw.slice(0, end).split("\r\n");
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(":");
    if (colon > 0) headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
  }
  const status = Number(statusLine.split(" ")[1] ?? 0);
  const after = raw.slice(end + 4);
  const length = connected && status >= 200 && status < 300 ? 0 : headers["content-length"] === undefined ? after.length : Number(headers["content-length"]);
  return { status, headers, body: after.slice(0, length), rest: after.slice(length) };
}

/** What every client here gets back: curl's result and a raw reply alike. */
type Answered = Pick<Reply, "status" | "headers" | "body">;
type Send = () => Promise<Answered>;

/** `CONNECT authority` on the forward port; with `tunnelled`, a GET sent up the tunnel at once. */
async function connect(proxy: RunningProxy, authority: string, tunnelled = false): Promise<Reply> {
  const inner = tunnelled ? `GET /tunnelled HTTP/1.1\r\nHost: ${authority}\r\nConnection: close\r\n\r\n` : "";
  return parseReply(await rawRequest(proxy.forwardPort!, `CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\n\r\n${inner}`), true);
}

/** An absolute-form GET on the forward port, sent byte for byte (curl would respell the host). */
async function absolute(proxy: RunningProxy, authority: string, hostHeader = authority): Promise<Reply> {
  return parseReply(await rawRequest(proxy.forwardPort!, `GET http://${authority}/probe HTTP/1.1\r\nHost: ${hostHeader}\r\nConnection: close\r\n\r\n`));
}

/** curl with the forward port as its http_proxy (`--noproxy ""` undoes the helper's `--noproxy '*'`). */
const viaProxy = (proxy: RunningProxy, url: string, ...args: string[]): Promise<CurlResult> => curl(["--noproxy", "", "-x", proxy.forwardUrl!, ...args, url]);

/** A request to the `-address` listener, whose `d: * -> <dynamic>` route goes where Host says. */
const viaDynamic = (proxy: RunningProxy, hostHeader: string): Promise<CurlResult> => curl(["-H", `Host: ${hostHeader}`, `${proxy.url}/probe`]);

// ---------------------------------------------------------------------------------------------
// Decision log lines
// ---------------------------------------------------------------------------------------------

/** One `egress allow|deny key=value ...` line, its quoted values (host, rule, user) unquoted. */
interface Decision {
  verdict: "allow" | "deny" | "would-deny";
  fields: Record<string, string>;
  line: string;
}

function parseDecision(line: string): Decision | undefined {
  const msg = /msg="((?:[^"\\]|\\.)*)"/.exec(line);
  const text: string = msg ? JSON.parse(`"${msg[1]}"`) : line;
  const match = /^egress (allow|deny|would-deny) (.*)$/.exec(text);
  if (!match) return undefined;
  const fields: Record<string, string> = {};
  for (const pair of match[2]!.split(" ")) {
    const eq = pair.indexOf("=");
    const value = pair.slice(eq + 1);
    fields[pair.slice(0, eq)] = value.startsWith('"') ? JSON.parse(value) : value;
  }
  return { verdict: match[1] as Decision["verdict"], fields, line: text };
}

/** Runs `send`, then returns its response and the decision lines logged for it (waiting for the first, bounded). */
async function decided<T>(proxy: RunningProxy, send: () => Promise<T>, expectDecision = true): Promise<{ res: T; decisions: Decision[] }> {
  const mark = proxy.logs.length;
  const res = await send();
  const collect = () => proxy.logs.slice(mark).flatMap((l) => parseDecision(l) ?? []);
  if (expectDecision) {
    for (let i = 0; i < 200 && collect().length === 0; i++) await Bun.sleep(10);
  }
  return { res, decisions: collect() };
}

/** The one decision of one request. */
async function oneDecision<T>(proxy: RunningProxy, send: () => Promise<T>): Promise<{ res: T; decision: Decision }> {
  const { res, decisions } = await decided(proxy, send);
  expect(decisions.map((d) => d.line)).toHaveLength(1);
  return { res, decision: decisions[0]! };
}

const escapeRe = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

// ---------------------------------------------------------------------------------------------
// 1. SSRF probes: every spelling of the loopback, the guard on by default
// ---------------------------------------------------------------------------------------------

interface Spelling {
  /** the host as written in the request (IPv6 bracketed) */
  host: string;
  /** what the decision line names as the host: as written, IPv6 unbracketed */
  logged: string;
  range: "loopback" | "this-network";
}

const loop = (host: string, logged = host): Spelling => ({ host, logged, range: "loopback" });
const SPELLINGS: Spelling[] = [
  loop("127.0.0.1"),
  loop("2130706433"),
  loop("0x7f000001"),
  loop("0177.0.0.1"),
  loop("0x7f.1"),
  loop("127.1"),
  loop("127.0.0.1."),
  loop("[::1]", "::1"),
  loop("[::ffff:127.0.0.1]", "::ffff:127.0.0.1"),
  loop("[::ffff:7f00:1]", "::ffff:7f00:1"),
  loop("localhost"),
  loop("LOCALHOST", "localhost"),
  { host: "0.0.0.0", logged: "0.0.0.0", range: "this-network" },
];

describe("the private-address guard (on by default)", () => {
  let proxy: RunningProxy;

  beforeAll(async () => {
    dns.answer("loop4.test", { A: ["127.0.0.1"] });
    dns.answer("loop6.test", { AAAA: ["::1"] });
    dns.answer("public.test", { A: ["127.0.0.2"] });
    dns.silent("slow.test");
    proxy = await startProxy([
      "-forward-address", "127.0.0.1:0", "-application-log-level", "debug",
      "-connect-ports", `443,${P}`,
      "-inline-routes", "d: * -> <dynamic>",
      "-dns-servers", dns.address,
      "-dns-timeout", "300ms",
    ]);
  });

  afterAll(async () => {
    await proxy?.stop();
  });

  test.each(SPELLINGS)("CONNECT $host:P is refused 403 egress-denied, naming the range", async ({ host, logged, range }) => {
    const { res, decision } = await oneDecision(proxy, () => connect(proxy, `${host}:${P}`, true));
    expect(res.status).toBe(403);
    expect(res.headers["x-sallyport-error"]).toBe("egress-denied");
    expect(res.body).toContain(`a ${range} address`);
    // Nothing went up a tunnel: the GET sent behind the CONNECT got no answer.
    expect(res.rest).toBe("");
    expect(decision.verdict).toBe("deny");
    expect(decision.fields).toMatchObject({ host: logged.toLowerCase(), port: String(P), reason: "private-address", range });
    expectBystandersUntouched();
  });

  test.each(SPELLINGS.filter((s) => ["0177.0.0.1", "2130706433", "[::1]", "localhost"].includes(s.host)))("CONNECT $host:443 is refused 403 egress-denied", async ({ host, range }) => {
    const res = await connect(proxy, `${host}:443`);
    expect(res.status).toBe(403);
    expect(res.headers["x-sallyport-error"]).toBe("egress-denied");
    expect(res.body).toContain(`a ${range} address`);
    expectBystandersUntouched();
  });

  test.each(SPELLINGS)("absolute-form GET http://$host:P/ is refused 403 egress-denied", async ({ host, logged, range }) => {
    const { res, decision } = await oneDecision(proxy, () => absolute(proxy, `${host}:${P}`));
    expect(res.status).toBe(403);
    expect(res.headers["x-sallyport-error"]).toBe("egress-denied");
    expect(res.body).toContain(`a ${range} address`);
    expect(decision.fields).toMatchObject({ host: logged.toLowerCase(), reason: "private-address", range });
    expectBystandersUntouched();
  });

  test.each(SPELLINGS)("curl -x http://$host:P/ is refused 403 egress-denied", async ({ host, range }) => {
    const res = await viaProxy(proxy, `http://${host}:${P}/probe`);
    expect(res.status).toBe(403);
    expect(res.headers["x-sallyport-error"]).toBe("egress-denied");
    expect(res.body).toContain(`a ${range} address`);
    expectBystandersUntouched();
  });

  test.each(SPELLINGS)("<dynamic> on -address with Host $host:P is refused 403 egress-denied", async ({ host, logged, range }) => {
    const { res, decision } = await oneDecision(proxy, () => viaDynamic(proxy, `${host}:${P}`));
    expect(res.status).toBe(403);
    expect(res.headers["x-sallyport-error"]).toBe("egress-denied");
    expect(res.body).toContain(`a ${range} address`);
    expect(decision.fields).toMatchObject({ host: logged.toLowerCase(), reason: "private-address", range });
    expectBystandersUntouched();
  });

  test("localhost is the loopback without asking the DNS server", async () => {
    await connect(proxy, `localhost:${P}`);
    await viaProxy(proxy, `http://foo.localhost:${P}/`);
    expect(dns.queries.filter((q) => q.includes("localhost"))).toEqual([]);
    expectBystandersUntouched();
  });

  // 2. names the test DNS resolves to the loopback
  test("a name whose A record is 127.0.0.1 is refused on CONNECT, absolute-form and <dynamic>", async () => {
    for (const send of <Send[]>[() => connect(proxy, `loop4.test:${P}`, true), () => viaProxy(proxy, `http://loop4.test:${P}/`), () => viaDynamic(proxy, `loop4.test:${P}`)]) {
      const { res, decision } = await oneDecision(proxy, send);
      expect(res.status).toBe(403);
      expect(res.headers["x-sallyport-error"]).toBe("egress-denied");
      expect(res.body).toContain(`loop4.test:${P} resolves to 127.0.0.1, a loopback address`);
      expect(decision.fields).toMatchObject({ host: "loop4.test", addresses: "127.0.0.1", reason: "private-address", range: "loopback", address: "127.0.0.1" });
    }
    expect(queriesFor("loop4.test").length).toBeGreaterThan(0);
    expectBystandersUntouched();
  });

  test("a name whose only record is AAAA ::1 is refused", async () => {
    for (const send of <Send[]>[() => connect(proxy, `loop6.test:${P}`, true), () => viaProxy(proxy, `http://loop6.test:${P}/`)]) {
      const { res, decision } = await oneDecision(proxy, send);
      expect(res.status).toBe(403);
      expect(res.body).toContain("resolves to ::1, a loopback address");
      expect(decision.fields).toMatchObject({ host: "loop6.test", addresses: "::1", reason: "private-address", range: "loopback", address: "::1" });
    }
    expectBystandersUntouched();
  });

  test("127.0.0.2 is loopback too: without an allow rule the public upstream is refused", async () => {
    expect((await connect(proxy, `127.0.0.2:${P}`, true)).status).toBe(403);
    expect((await viaProxy(proxy, `http://public.test:${P}/`)).status).toBe(403);
    expect(world.publicRequests).toEqual([]);
  });

  // 4. DNS failures
  test("NXDOMAIN is 502 dns-failed, on CONNECT and absolute-form", async () => {
    const tunnel = await connect(proxy, `gone.test:${P}`);
    expect(tunnel.status).toBe(502);
    expect(tunnel.headers["x-sallyport-error"]).toBe("dns-failed");
    const plain = await viaProxy(proxy, `http://gone.test:${P}/`);
    expect(plain.status).toBe(502);
    expect(plain.headers["x-sallyport-error"]).toBe("dns-failed");
    expect(queriesFor("gone.test").length).toBeGreaterThan(0);
  });

  test("a DNS server that never answers is 504 dns-timeout after -dns-timeout (300ms), not later", async () => {
    for (const send of [() => connect(proxy, `slow.test:${P}`), () => absolute(proxy, `slow.test:${P}`)]) {
      const started = performance.now();
      const res = await send();
      const elapsed = performance.now() - started;
      expect(res.status).toBe(504);
      expect(res.headers["x-sallyport-error"]).toBe("dns-timeout");
      expect(elapsed).toBeGreaterThanOrEqual(250);
      // node:dns's own timer would answer only after about a second: the deadline is ours.
      expect(elapsed).toBeLessThan(800);
    }
    expect(queriesFor("slow.test").length).toBeGreaterThan(0);
  });

  test("the client is told the decision in X-Sallyport-Error on the forward port's raw answers and the engine's alike", async () => {
    const raw = await connect(proxy, `127.1:${P}`);
    const engine = await absolute(proxy, `127.1:${P}`);
    expect(raw.headers["x-sallyport-error"]).toBe("egress-denied");
    expect(engine.headers["x-sallyport-error"]).toBe("egress-denied");
    expect(raw.body).toBe(engine.body);
    expect(raw.body).toBe(`Forbidden: 127.1:${P} is a loopback address\n`);
  });
});

// ---------------------------------------------------------------------------------------------
// 2, 3, 6. A "public" address allowed by an IP rule: mixed answers, rebinding, decision lines
// ---------------------------------------------------------------------------------------------

describe("-egress-allow named.test,127.0.0.2 (an IP rule opens exactly that address)", () => {
  let proxy: RunningProxy;

  beforeAll(async () => {
    dns.answer("mix.test", { A: ["127.0.0.1", "127.0.0.2"] });
    dns.answer("anydual.test", { A: ["127.0.0.2"], AAAA: ["::1"] });
    dns.answer("loopback.test", { A: ["127.0.0.1"] });
    dns.answer("named.test", { A: ["127.0.0.1"] });
    dns.answer("stranger.test", { A: ["127.0.0.2"] });
    dns.answer("far.test", { A: ["127.0.0.3"] });
    // Single-label names, and what a search list would make of them: only the former may be asked.
    dns.answer("intranet", { A: ["127.0.0.2"] });
    dns.nxdomain("nosuch");
    for (const suffix of ["test", "corp.test", "localdomain"]) {
      dns.answer(`intranet.${suffix}`, { A: ["127.0.0.3"] });
      dns.answer(`nosuch.${suffix}`, { A: ["127.0.0.2"] });
    }
    proxy = await startProxy([
      // one process, one DNS cache: the rebinding test watches its TTL
      ...ONE_PROCESS,
      "-forward-address", "127.0.0.1:0", "-application-log-level", "debug",
      "-connect-ports", String(P),
      "-inline-routes", "d: * -> <dynamic>",
      "-egress-allow", "named.test,127.0.0.2",
      "-dns-servers", dns.address,
      "-dns-min-ttl", "0",
      "-dns-max-ttl", "2s",
    ]);
  });

  afterAll(async () => {
    await proxy?.stop();
  });

  test("CONNECT 127.0.0.2:P opens a tunnel to the public upstream", async () => {
    const { res, decision } = await oneDecision(proxy, () => connect(proxy, `127.0.0.2:${P}`, true));
    expect(res.status).toBe(200);
    const inner = parseReply(res.rest);
    expect(inner.status).toBe(200);
    expect(inner.headers["x-upstream"]).toBe("public");
    expect(decision.verdict).toBe("allow");
    expect(decision.fields).toMatchObject({ client: "127.0.0.1", user: "-", host: "127.0.0.2", port: String(P), addresses: "127.0.0.2", reason: "allow-rule", rule: "127.0.0.2", dial: "127.0.0.2" });
  });

  test("CONNECT 127.0.0.1:P and 127.0.0.3:P are not on the allow list (the rule is that one address)", async () => {
    for (const host of ["127.0.0.1", "0x7f000001", "127.0.0.3"]) {
      const { res, decision } = await oneDecision(proxy, () => connect(proxy, `${host}:${P}`, true));
      expect(res.status).toBe(403);
      expect(res.body).toBe(`Forbidden: ${host}:${P} is not on the egress allow list\n`);
      expect(decision.fields).toMatchObject({ reason: "not-in-allow-list" });
    }
    expectBystandersUntouched();
  });

  test("A [127.0.0.1, 127.0.0.2]: only 127.0.0.2 is dialed, on CONNECT, absolute-form and <dynamic>", async () => {
    const before = world.publicRequests.length;
    const tunnel = await oneDecision(proxy, () => connect(proxy, `mix.test:${P}`, true));
    expect(tunnel.res.status).toBe(200);
    expect(parseReply(tunnel.res.rest).headers["x-upstream"]).toBe("public");
    const plain = await oneDecision(proxy, () => viaProxy(proxy, `http://mix.test:${P}/`));
    expect(plain.res.status).toBe(200);
    expect(plain.res.headers["x-upstream"]).toBe("public");
    expect(JSON.parse(plain.res.body)).toEqual({ upstream: "public", host: `mix.test:${P}` });
    const dynamic = await oneDecision(proxy, () => viaDynamic(proxy, `mix.test:${P}`));
    expect(dynamic.res.status).toBe(200);
    expect(dynamic.res.headers["x-upstream"]).toBe("public");
    for (const { decision } of [tunnel, plain, dynamic]) {
      expect(decision.verdict).toBe("allow");
      expect(decision.fields).toMatchObject({ host: "mix.test", addresses: "127.0.0.1,127.0.0.2", reason: "allow-rule", rule: "127.0.0.2", dial: "127.0.0.2" });
    }
    expect(world.publicRequests.length).toBe(before + 3);
    expectBystandersUntouched();
  });

  test("A 127.0.0.2 + AAAA ::1 (-dns-lookup-family any): both asked for, ::1 refused, 127.0.0.2 dialed", async () => {
    const { res, decision } = await oneDecision(proxy, () => viaProxy(proxy, `http://anydual.test:${P}/`));
    expect(res.status).toBe(200);
    expect(res.headers["x-upstream"]).toBe("public");
    expect(decision.fields).toMatchObject({ addresses: "127.0.0.2,::1", dial: "127.0.0.2" });
    expect(queriesFor("anydual.test").sort()).toEqual(["anydual.test A", "anydual.test AAAA"]);
    expectBystandersUntouched();
  });

  test("no search domains: the single-label `intranet` is asked as written and served; `nosuch` is 502 dns-failed, no other name tried in its place", async () => {
    /** the distinct queries for `label` and any name under it (`label.…`) */
    const asked = (label: string) => [...new Set(dns.queries.filter((q) => q.startsWith(`${label} `) || q.startsWith(`${label}.`)))].sort();
    const before = world.publicRequests.length;
    const plain = await oneDecision(proxy, () => viaProxy(proxy, `http://intranet:${P}/`));
    expect(plain.res.status).toBe(200);
    expect(JSON.parse(plain.res.body)).toEqual({ upstream: "public", host: `intranet:${P}` });
    const tunnel = await oneDecision(proxy, () => connect(proxy, `intranet:${P}`, true));
    expect(tunnel.res.status).toBe(200);
    expect(parseReply(tunnel.res.rest).headers["x-upstream"]).toBe("public");
    for (const { decision } of [plain, tunnel]) expect(decision.fields).toMatchObject({ host: "intranet", addresses: "127.0.0.2", dial: "127.0.0.2" });
    expect(world.publicRequests.length).toBe(before + 2);
    expect(asked("intranet")).toEqual(["intranet A", "intranet AAAA"]);

    const missing = await viaProxy(proxy, `http://nosuch:${P}/`);
    expect(missing.status).toBe(502);
    expect(missing.headers["x-sallyport-error"]).toBe("dns-failed");
    expect(asked("nosuch")).toEqual(["nosuch A", "nosuch AAAA"]);
    expect(world.publicRequests.length).toBe(before + 2);
    expectBystandersUntouched();
  });

  test("a name resolving only to 127.0.0.1 is refused", async () => {
    const { res, decision } = await oneDecision(proxy, () => viaProxy(proxy, `http://loopback.test:${P}/`));
    expect(res.status).toBe(403);
    expect(decision.fields).toMatchObject({ host: "loopback.test", addresses: "127.0.0.1", reason: "not-in-allow-list", address: "127.0.0.1" });
    expectBystandersUntouched();
  });

  test("a name on the allow list does not open the private address it resolves to", async () => {
    const { res, decision } = await oneDecision(proxy, () => connect(proxy, `named.test:${P}`, true));
    expect(res.status).toBe(403);
    expect(res.body).toBe(`Forbidden: named.test:${P} resolves to 127.0.0.1, a loopback address\n`);
    expect(decision.fields).toMatchObject({ host: "named.test", reason: "private-address", range: "loopback", address: "127.0.0.1" });
    expectBystandersUntouched();
  });

  test("the IP rule admits any name that resolves to exactly that address, and no other", async () => {
    const ok = await oneDecision(proxy, () => viaProxy(proxy, `http://stranger.test:${P}/`));
    expect(ok.res.status).toBe(200);
    expect(ok.decision.fields).toMatchObject({ reason: "allow-rule", rule: "127.0.0.2", dial: "127.0.0.2" });
    const far = await oneDecision(proxy, () => viaProxy(proxy, `http://far.test:${P}/`));
    expect(far.res.status).toBe(403);
    expect(far.decision.fields).toMatchObject({ reason: "not-in-allow-list", address: "127.0.0.3" });
  });

  test("the absolute-form target decides, not the Host header", async () => {
    const refused = await oneDecision(proxy, () => absolute(proxy, `127.0.0.1:${P}`, `127.0.0.2:${P}`));
    expect(refused.res.status).toBe(403);
    expect(refused.decision.fields).toMatchObject({ host: "127.0.0.1" });
    expectBystandersUntouched();
    const allowed = await oneDecision(proxy, () => absolute(proxy, `127.0.0.2:${P}`, `127.0.0.1:${P}`));
    expect(allowed.res.status).toBe(200);
    expect(allowed.res.headers["x-upstream"]).toBe("public");
    expect(allowed.decision.fields).toMatchObject({ host: "127.0.0.2", dial: "127.0.0.2" });
    expectBystandersUntouched();
  });

  test("a CONNECT port outside -connect-ports is refused before the name is resolved", async () => {
    const { res, decisions } = await decided(proxy, () => connect(proxy, "portless.test:443"), false);
    expect(res.status).toBe(403);
    expect(res.headers["x-sallyport-error"]).toBe("connect-port-denied");
    expect(decisions).toEqual([]);
    expect(queriesFor("portless.test")).toEqual([]);
  });

  // 3. rebinding
  test("rebinding: 127.0.0.2 then 127.0.0.1 — served while the answer is cached, refused once its TTL passes, 127.0.0.1 never dialed", async () => {
    // TTL 2s (and -dns-max-ttl 2s): the cached answer outlives the change, then expires.
    dns.answer("rebind.test", { A: ["127.0.0.2"], ttl: 2 });
    const resolvedAt = performance.now();
    const first = await oneDecision(proxy, () => viaProxy(proxy, `http://rebind.test:${P}/`));
    expect(first.res.status).toBe(200);
    expect(first.res.headers["x-upstream"]).toBe("public");
    expect(first.decision.fields).toMatchObject({ addresses: "127.0.0.2", dial: "127.0.0.2" });

    dns.answer("rebind.test", { A: ["127.0.0.1"], ttl: 2 });
    // Poll (bounded) until the cached answer expires; until then every request is served by 127.0.0.2.
    const statuses: number[] = [];
    let firstAfterChange = Infinity;
    let last: Awaited<ReturnType<typeof oneDecision<CurlResult>>> | undefined;
    for (let i = 0; performance.now() - resolvedAt < 8000; i++) {
      if (i === 0) firstAfterChange = performance.now() - resolvedAt;
      last = await oneDecision(proxy, () => (i % 2 === 0 ? viaProxy(proxy, `http://rebind.test:${P}/`) : viaDynamic(proxy, `rebind.test:${P}`)));
      statuses.push(last.res.status);
      if (last.res.status !== 200) break;
      expect(last.res.headers["x-upstream"]).toBe("public");
      expect(last.decision.fields).toMatchObject({ addresses: "127.0.0.2", dial: "127.0.0.2" });
      await Bun.sleep(50);
    }
    // The request right after the change was answered from the cache (unless this machine took most of the TTL to send it).
    if (firstAfterChange < 1500) expect(statuses[0]).toBe(200);
    expect(last!.res.status).toBe(403);
    expect(last!.res.headers["x-sallyport-error"]).toBe("egress-denied");
    expect(last!.decision.fields).toMatchObject({ host: "rebind.test", addresses: "127.0.0.1", reason: "not-in-allow-list", address: "127.0.0.1" });
    expect(statuses.slice(0, -1).every((s) => s === 200)).toBe(true);
    // Refused no earlier than the TTL: the cache was not ignored.
    expect(performance.now() - resolvedAt).toBeGreaterThanOrEqual(1900);
    // One A query per TTL: the requests in between were answered from the cache.
    expect(queriesFor("rebind.test").filter((q) => q.endsWith(" A"))).toHaveLength(2);
    // And a CONNECT now is refused too.
    expect((await connect(proxy, `rebind.test:${P}`, true)).status).toBe(403);
    expectBystandersUntouched();
  }, 15_000);

  test("rebinding on every query (TTL 0): each request dials the address it checked, never a second answer", async () => {
    // The answer flips to 127.0.0.1 from the second A query on: a proxy that resolved the name
    // again to dial (after checking the first answer) would reach the 127.0.0.1 bystander.
    const name = "flip.test";
    dns.answer(name, { A: ["127.0.0.2"], ttl: 0 });
    const queries = dns.queries;
    const push = queries.push.bind(queries);
    let aQueries = 0;
    // startTestDns logs each query before it looks up the answer: the hook changes it in between.
    queries.push = (...items: string[]) => {
      for (const q of items) if (q === `${name} A` && ++aQueries === 2) dns.answer(name, { A: ["127.0.0.1"], ttl: 0 });
      return push(...items);
    };
    try {
      const first = await oneDecision(proxy, () => connect(proxy, `${name}:${P}`, true));
      expect(first.res.status).toBe(200);
      expect(parseReply(first.res.rest).headers["x-upstream"]).toBe("public");
      expect(first.decision.fields).toMatchObject({ addresses: "127.0.0.2", dial: "127.0.0.2" });
      expect(aQueries).toBe(1);
      expectBystandersUntouched();
      // TTL 0 (-dns-min-ttl 0): the next request asks again, and is refused on the new answer.
      const second = await oneDecision(proxy, () => viaProxy(proxy, `http://${name}:${P}/`));
      expect(second.res.status).toBe(403);
      expect(second.decision.fields).toMatchObject({ addresses: "127.0.0.1", address: "127.0.0.1" });
      expect(aQueries).toBe(2);
    } finally {
      queries.push = push;
    }
    expectBystandersUntouched();
  });
});

// ---------------------------------------------------------------------------------------------
// 4. -dns-lookup-family v4
// ---------------------------------------------------------------------------------------------

describe("-dns-lookup-family v4", () => {
  let proxy: RunningProxy;

  beforeAll(async () => {
    dns.answer("v4dual.test", { A: ["127.0.0.2"], AAAA: ["::1"] });
    dns.answer("v6only.test", { AAAA: ["::1"] });
    proxy = await startProxy(["-forward-address", "127.0.0.1:0", "-application-log-level", "debug", "-connect-ports", String(P), "-egress-allow", "127.0.0.2", "-dns-servers", dns.address, "-dns-lookup-family", "v4"]);
  });

  afterAll(async () => {
    await proxy?.stop();
  });

  test("only A records are asked for and used", async () => {
    const { res, decision } = await oneDecision(proxy, () => viaProxy(proxy, `http://v4dual.test:${P}/`));
    expect(res.status).toBe(200);
    expect(res.headers["x-upstream"]).toBe("public");
    expect(decision.fields).toMatchObject({ addresses: "127.0.0.2", dial: "127.0.0.2" });
    expect(queriesFor("v4dual.test")).toEqual(["v4dual.test A"]);
  });

  test("a name with only AAAA records does not resolve: 502 dns-failed", async () => {
    const res = await connect(proxy, `v6only.test:${P}`, true);
    expect(res.status).toBe(502);
    expect(res.headers["x-sallyport-error"]).toBe("dns-failed");
    expect(queriesFor("v6only.test")).toEqual(["v6only.test A"]);
    expectBystandersUntouched();
  });
});

// ---------------------------------------------------------------------------------------------
// 5. Name rules: host, *.domain, host:port, deny wins, denied names never resolved
// ---------------------------------------------------------------------------------------------

describe("name rules (-egress-allow-private, so only the rules decide)", () => {
  let proxy: RunningProxy;

  beforeAll(async () => {
    for (const name of ["api.test", "a.corp.test", "deep.a.corp.test", "corp.test", "bad.corp.test", "pinned.test", "other.test"]) dns.answer(name, { A: ["127.0.0.2"] });
    dns.answer("evil.corp.test", { A: ["127.0.0.3"] });
    proxy = await startProxy([
      "-forward-address", "127.0.0.1:0", "-application-log-level", "debug",
      "-connect-ports", String(P),
      "-egress-allow-private",
      "-egress-allow", `api.test,*.corp.test,pinned.test:${P}`,
      "-egress-deny", "bad.corp.test,127.0.0.3",
      "-dns-servers", dns.address,
    ]);
  });

  afterAll(async () => {
    await proxy?.stop();
  });

  const get = (proxy: RunningProxy, authority: string) => oneDecision(proxy, () => viaProxy(proxy, `http://${authority}/`));

  test("a listed host is served (the fallback * -> <dynamic>), CONNECT too", async () => {
    const { res, decision } = await get(proxy, `api.test:${P}`);
    expect(res.status).toBe(200);
    expect(res.headers["x-upstream"]).toBe("public");
    expect(decision.fields).toMatchObject({ host: "api.test", reason: "allow-rule", rule: "api.test", dial: "127.0.0.2" });
    const tunnel = await connect(proxy, `API.test:${P}`, true);
    expect(tunnel.status).toBe(200);
    expect(parseReply(tunnel.rest).headers["x-upstream"]).toBe("public");
  });

  test("an unlisted host is refused without being resolved", async () => {
    const { res, decision } = await get(proxy, `other.test:${P}`);
    expect(res.status).toBe(403);
    expect(res.body).toBe(`Forbidden: other.test:${P} is not on the egress allow list\n`);
    expect(decision.fields).toMatchObject({ host: "other.test", addresses: "-", reason: "not-in-allow-list" });
    expect(queriesFor("other.test")).toEqual([]);
  });

  test("*.corp.test matches subdomains at any depth, not corp.test itself", async () => {
    for (const name of ["a.corp.test", "deep.a.corp.test"]) {
      const { res, decision } = await get(proxy, `${name}:${P}`);
      expect(res.status).toBe(200);
      expect(decision.fields).toMatchObject({ host: name, reason: "allow-rule", rule: "*.corp.test" });
    }
    const apex = await get(proxy, `corp.test:${P}`);
    expect(apex.res.status).toBe(403);
    expect(apex.decision.fields).toMatchObject({ host: "corp.test", reason: "not-in-allow-list" });
    expect(queriesFor("corp.test")).toEqual([]);
  });

  test("deny wins over allow: bad.corp.test is refused by its rule and never resolved", async () => {
    for (const send of <Send[]>[() => viaProxy(proxy, `http://bad.corp.test:${P}/`), () => connect(proxy, `Bad.Corp.Test.:${P}`, true)]) {
      const { res, decision } = await oneDecision(proxy, send);
      expect(res.status).toBe(403);
      expect(res.headers["x-sallyport-error"]).toBe("egress-denied");
      expect(res.body).toContain('is denied by the egress rule "bad.corp.test"');
      expect(decision.fields).toMatchObject({ reason: "deny-rule", rule: "bad.corp.test", addresses: "-" });
    }
    expect(queriesFor("bad.corp.test")).toEqual([]);
  });

  test("a deny IP rule refuses an allowed name that resolves to it", async () => {
    const { res, decision } = await get(proxy, `evil.corp.test:${P}`);
    expect(res.status).toBe(403);
    expect(res.body).toBe(`Forbidden: evil.corp.test:${P} is denied by the egress rule "127.0.0.3"\n`);
    expect(decision.fields).toMatchObject({ host: "evil.corp.test", addresses: "127.0.0.3", reason: "deny-rule", rule: "127.0.0.3", address: "127.0.0.3" });
  });

  test("host:port allows that port only", async () => {
    const ok = await get(proxy, `pinned.test:${P}`);
    expect(ok.res.status).toBe(200);
    expect(ok.decision.fields).toMatchObject({ reason: "allow-rule", rule: `pinned.test:${P}` });
    const other = await get(proxy, "pinned.test:80");
    expect(other.res.status).toBe(403);
    expect(other.decision.fields).toMatchObject({ host: "pinned.test", port: "80", reason: "not-in-allow-list" });
  });
});

describe("-egress-allow 127.0.0.0/8 -egress-deny 127.0.0.1,blocked.test (deny wins over an address allow)", () => {
  let proxy: RunningProxy;

  beforeAll(async () => {
    dns.answer("twice.test", { A: ["127.0.0.1", "127.0.0.2"] });
    dns.answer("blocked.test", { A: ["127.0.0.2"] });
    proxy = await startProxy([
      "-forward-address", "127.0.0.1:0", "-application-log-level", "debug",
      "-connect-ports", String(P),
      "-egress-allow", "127.0.0.0/8",
      "-egress-deny", "127.0.0.1,blocked.test",
      "-dns-servers", dns.address,
    ]);
  });

  afterAll(async () => {
    await proxy?.stop();
  });

  test("the CIDR opens the private range: 127.0.0.2 is served", async () => {
    const { res, decision } = await oneDecision(proxy, () => connect(proxy, `127.0.0.2:${P}`, true));
    expect(res.status).toBe(200);
    expect(parseReply(res.rest).headers["x-upstream"]).toBe("public");
    expect(decision.fields).toMatchObject({ reason: "allow-rule", rule: "127.0.0.0/8", dial: "127.0.0.2" });
  });

  test.each(["127.0.0.1", "0x7f000001", "0177.1", "[::ffff:127.0.0.1]", "[::ffff:7f00:1]"])("the deny rule 127.0.0.1 refuses %s in the allowed CIDR", async (host) => {
    const { res, decision } = await oneDecision(proxy, () => connect(proxy, `${host}:${P}`, true));
    expect(res.status).toBe(403);
    expect(res.body).toContain('is denied by the egress rule "127.0.0.1"');
    expect(decision.fields).toMatchObject({ reason: "deny-rule", rule: "127.0.0.1" });
    expectBystandersUntouched();
  });

  test("[::1] is outside the IPv4 CIDR: not on the allow list", async () => {
    const { res, decision } = await oneDecision(proxy, () => connect(proxy, `[::1]:${P}`, true));
    expect(res.status).toBe(403);
    expect(decision.fields).toMatchObject({ host: "::1", reason: "not-in-allow-list" });
    expectBystandersUntouched();
  });

  test("a name resolving to [127.0.0.1, 127.0.0.2] dials 127.0.0.2", async () => {
    const { res, decision } = await oneDecision(proxy, () => viaProxy(proxy, `http://twice.test:${P}/`));
    expect(res.status).toBe(200);
    expect(res.headers["x-upstream"]).toBe("public");
    expect(decision.fields).toMatchObject({ addresses: "127.0.0.1,127.0.0.2", dial: "127.0.0.2", rule: "127.0.0.0/8" });
    expectBystandersUntouched();
  });

  test("a denied name is refused and never resolved, though its address is allowed", async () => {
    const { res, decision } = await oneDecision(proxy, () => viaProxy(proxy, `http://blocked.test:${P}/`));
    expect(res.status).toBe(403);
    expect(decision.fields).toMatchObject({ reason: "deny-rule", rule: "blocked.test", addresses: "-" });
    expect(queriesFor("blocked.test")).toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------------
// 5. Allow and deny files, re-read while serving
// ---------------------------------------------------------------------------------------------

describe("-egress-allow-file / -egress-deny-file", () => {
  let proxy: RunningProxy;
  let dir: string;
  let allowFile: string;
  let denyFile: string;

  /** Replaces `path` whole (write, then rename over it), as the lists ask files to be replaced. */
  async function replace(path: string, text: string): Promise<void> {
    const tmp = `${path}.${Date.now()}.tmp`;
    await writeFile(tmp, text);
    await rename(tmp, path);
  }

  const waitLine = (text: string) => proxy.waitForLog(new RegExp(escapeRe(text)), 10_000);

  const status = async (name: string) => (await viaProxy(proxy, `http://${name}:${P}/`)).status;

  beforeAll(async () => {
    for (const name of ["one.test", "two.test", "three.test", "four.test"]) dns.answer(name, { A: ["127.0.0.2"] });
    dir = await mkdtemp(join(tmpdir(), "sallyport-egress-"));
    allowFile = join(dir, "allow.txt");
    denyFile = join(dir, "deny.txt");
    await writeFile(allowFile, "# who may be reached\none.test\n");
    await writeFile(denyFile, "# nothing denied yet\n");
    proxy = await startProxy([
      // one process: a reload takes effect once its log line is seen
      ...ONE_PROCESS,
      "-forward-address", "127.0.0.1:0", "-application-log-level", "debug",
      "-egress-allow-private",
      "-egress-allow-file", allowFile,
      "-egress-deny-file", denyFile,
      "-source-poll-timeout", "100",
      "-dns-servers", dns.address,
    ]);
    await waitLine(`egress allow list ${allowFile}: 1 entries`);
  });

  afterAll(async () => {
    await proxy?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test("the allow file decides from the start", async () => {
    const { res, decision } = await oneDecision(proxy, () => viaProxy(proxy, `http://one.test:${P}/`));
    expect(res.status).toBe(200);
    expect(decision.fields).toMatchObject({ reason: "allow-rule", rule: "one.test" });
    expect(await status("two.test")).toBe(403);
  });

  test("a new allow file takes over once its reload is logged", async () => {
    await replace(allowFile, "two.test\nthree.test # trailing comment\n");
    await waitLine(`egress allow list ${allowFile}: 2 entries`);
    expect(await status("two.test")).toBe(200);
    expect(await status("three.test")).toBe(200);
    expect(await status("one.test")).toBe(403);
  });

  test("an allow file with a bad line keeps the previous list, and the log names file:line", async () => {
    await replace(allowFile, "two.test\nfour.test\nnot a host!\n");
    const line = await waitLine(`${allowFile}:3:`);
    expect(line).toContain("not a host!");
    expect(await waitLine(`egress allow list ${allowFile} has 1 invalid line(s); keeping its previous 2 entries`)).toBeTruthy();
    expect(await status("four.test")).toBe(403);
    expect(await status("three.test")).toBe(200);
  });

  test("a deny file entry wins over the allow file once reloaded", async () => {
    await replace(allowFile, "two.test\nthree.test\nfour.test\n");
    await waitLine(`egress allow list ${allowFile}: 3 entries`);
    await replace(denyFile, "two.test\n");
    await waitLine(`egress deny list ${denyFile}: 1 entries`);
    const { res, decision } = await oneDecision(proxy, () => viaProxy(proxy, `http://two.test:${P}/`));
    expect(res.status).toBe(403);
    expect(decision.fields).toMatchObject({ reason: "deny-rule", rule: "two.test" });
    expect(await status("four.test")).toBe(200);
  });

  test("a deny file with a bad line keeps the previous deny list whole (not half applied)", async () => {
    await replace(denyFile, "three.test\nbad entry here\n");
    const line = await waitLine(`${denyFile}:2:`);
    expect(line).toContain("bad entry here");
    await waitLine(`egress deny list ${denyFile} has 1 invalid line(s); keeping its previous 1 entries`);
    expect(await status("two.test")).toBe(403);
    expect(await status("three.test")).toBe(200);
  });
});

describe("-egress-mode=report: what the rules refuse is let through, logged and counted, the private-address guard still refuses", () => {
  /** the rules let nothing through; the guard is opened for the loopback, which stands for the public internet here */
  let reporting: RunningProxy;
  /** the same rules without -egress-allow-private: the guard decides as in enforce mode */
  let guarded: RunningProxy;
  const RULES = ["-egress-allow", "listed.test", "-egress-deny", "blocked.test"];

  beforeAll(async () => {
    for (const name of ["unlisted.test", "blocked.test"]) dns.answer(name, { A: ["127.0.0.2"] });
    const common = ["-forward-address", "127.0.0.1:0", "-application-log-level", "debug", "-connect-ports", String(P), "-dns-servers", dns.address, "-egress-mode", "report", ...RULES];
    [reporting, guarded] = await Promise.all([startProxy([...ONE_PROCESS, ...common, "-egress-allow-private"]), startProxy([...ONE_PROCESS, ...common])]);
  });

  afterAll(async () => {
    await Promise.all([reporting?.stop(), guarded?.stop()]);
  });

  const wouldDeny = async (proxy: RunningProxy) => {
    const scrape = await (await fetch(`${proxy.supportUrl}/metrics`)).text();
    return [...scrape.matchAll(/^sallyport_egress_would_deny_total\{reason="([^"]+)",destination="([^"]+)"\} (\d+)$/gm)].map((m) => `${m[1]} ${m[2]} ${m[3]}`);
  };

  test("a host not on the allow list and one a deny rule names reach the upstream, as would-deny lines naming the reason and rule, counted by destination", async () => {
    const unlisted = await oneDecision(reporting, () => viaProxy(reporting, `http://unlisted.test:${P}/`));
    expect([unlisted.res.status, unlisted.res.headers["x-upstream"]]).toEqual([200, "public"]);
    expect(unlisted.decision.verdict).toBe("would-deny");
    expect(unlisted.decision.fields).toMatchObject({ host: "unlisted.test", would: "not-in-allow-list", mode: "report", dial: "127.0.0.2" });
    const blocked = await oneDecision(reporting, () => connect(reporting, `blocked.test:${P}`, true));
    expect(blocked.res.status).toBe(200);
    expect(parseReply(blocked.res.rest).headers["x-upstream"]).toBe("public");
    expect(blocked.decision.fields).toMatchObject({ host: "blocked.test", would: "deny-rule", rule: "blocked.test" });
    expect(await wouldDeny(reporting)).toEqual([`not-in-allow-list unlisted.test:${P} 1`, `deny-rule blocked.test:${P} 1`]);
    expectBystandersUntouched();
  });

  test("never a private address: without -egress-allow-private every spelling of the loopback is 403, as in enforce mode, and no would-deny", async () => {
    for (const authority of [`unlisted.test:${P}`, `127.0.0.1:${P}`, `localhost:${P}`, `[::1]:${P}`, `0x7f.1:${P}`]) {
      const { res, decision } = await oneDecision(guarded, () => absolute(guarded, authority));
      expect([authority, res.status, res.headers["x-sallyport-error"]]).toEqual([authority, 403, "egress-denied"]);
      expect(decision.verdict).toBe("deny");
      expect(decision.fields.reason).toBe("private-address");
    }
    expect(await wouldDeny(guarded)).toEqual([]);
    expectBystandersUntouched();
  });
});
