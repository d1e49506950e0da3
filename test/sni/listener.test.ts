/**
 * The SNI listener in-process, on loopback only: a TLS upstream on 127.0.0.2 with a certificate
 * for `api.test` from a test CA, the test DNS server answering the test names, and clients that
 * connect to the SNI port with a server name. End to end through a redirect rule (nftables in a
 * network namespace) is test/e2e/sni.test.ts.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { Socket, TCPSocketListener } from "bun";
import tls from "node:tls";
import { createDialPlan } from "../../src/egress/dial.ts";
import { createResolver } from "../../src/egress/dns.ts";
import { createEgressPolicy } from "../../src/egress/policy.ts";
import { parseEgressList } from "../../src/egress/rules.ts";
import { Exchanges, type ExchangeRecord } from "../../src/exchange/record.ts";
import type { Listener } from "../../src/net/listener.ts";
import { alertBytes, sniListener, type SniListenerOptions } from "../../src/sni/listener.ts";
import { systemClock } from "../../src/util/clock.ts";
import { startTestDns, type TestDns } from "../support/dns.ts";
import { signLeaf } from "../support/forward-tls.ts";
import { makeTestPki, type TestPki } from "../support/tls.ts";
import { hello, reframe, serverNameExtension } from "./hellos.ts";

const UPSTREAM_HOST = "127.0.0.2";

let pki: TestPki;
let dns: TestDns;
/** a TLS server for api.test that answers any bytes with one HTTP response naming what it saw */
let upstream: TCPSocketListener<undefined>;
let upstreamConnections = 0;
/** a plain TCP server on 127.0.0.2 that keeps every byte it gets, answers `pong` on FIN */
let recorder: TCPSocketListener<{ bytes: Uint8Array[]; ended: boolean }>;
const recorded: { bytes: Uint8Array[]; ended: boolean }[] = [];
const records: ExchangeRecord[] = [];
const logs: string[] = [];
let exchanges: Exchanges;
let dialPlan: SniListenerOptions["dialPlan"];
const started: Listener[] = [];
/** the main SNI port, dialing the TLS upstream */
let sniPort: number;

async function startSni(options: Partial<SniListenerOptions> & { upstreamPort: number }): Promise<{ listener: Listener; port: number }> {
  const listener = sniListener({ hostname: "127.0.0.1", port: 0, dialPlan, exchanges, clock: systemClock, dialTimeout: 2000, headTimeout: 5000, log: { info: (m) => logs.push(m) }, ...options });
  const address = await listener.start();
  started.push(listener);
  return { listener, port: Number(address.split(":").pop()) };
}

beforeAll(async () => {
  pki = await makeTestPki();
  const leaf = await signLeaf(pki, ["api.test", "also.ok.test"]);
  upstream = Bun.listen({
    hostname: UPSTREAM_HOST,
    port: 0,
    tls: { key: leaf.key, cert: leaf.cert },
    socket: {
      open: () => void upstreamConnections++,
      data(s, chunk) {
        const head = new TextDecoder().decode(chunk);
        const host = /\r\nhost: ([^\r]*)/i.exec(head)?.[1] ?? "-";
        const body = `upstream got ${host} from ${s.remoteAddress}`;
        s.end(`HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`);
      },
    },
  });
  recorder = Bun.listen({
    hostname: UPSTREAM_HOST,
    port: 0,
    allowHalfOpen: true,
    socket: {
      open(s) {
        s.data = { bytes: [], ended: false };
        recorded.push(s.data);
      },
      data: (s, chunk) => void s.data.bytes.push(chunk.slice()),
      end(s) {
        s.data.ended = true;
        s.end("pong");
      },
    },
  });
  dns = await startTestDns();
  for (const name of ["api.test", "also.ok.test", "replay.ok.test", "slow.ok.test"]) dns.answer(name, { A: [UPSTREAM_HOST] });
  dns.answer("evil.ok.test", { A: ["127.0.0.3"] });
  dns.answer("other.test", { A: [UPSTREAM_HOST] });
  dns.nxdomain("nx.ok.test");
  exchanges = new Exchanges(systemClock);
  exchanges.subscribe((r) => records.push({ ...r }));
  // Loopback is private: -egress-allow-private, with an allow list of names and one address denied.
  const policy = createEgressPolicy({ allow: parseEgressList("api.test,*.ok.test").rules, deny: parseEgressList("127.0.0.3").rules, allowPrivate: true });
  const resolver = createResolver({ servers: [dns.address], family: "v4", minTtl: 0, maxTtl: 0, timeout: 1000, clock: systemClock });
  dialPlan = createDialPlan({ policy: () => ({ policy, role: undefined }), resolver });
  sniPort = (await startSni({ upstreamPort: upstream.port })).port;
}, 30_000);

afterAll(async () => {
  for (const l of started) await l.stop(0);
  upstream?.stop(true);
  recorder?.stop(true);
  dns?.stop();
});

async function until(cond: () => boolean, what: string, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms`);
    await Bun.sleep(5);
  }
}

/** The record of the connection whose host is `host`, once completed. */
async function recordFor(host: string): Promise<ExchangeRecord> {
  await until(() => records.some((r) => r.host === host), `a record for ${JSON.stringify(host)}`);
  return records.find((r) => r.host === host)!;
}

interface TlsResult {
  authorized: boolean;
  subject: string | undefined;
  response: string;
  error: (Error & { code?: string }) | undefined;
}

/** A TLS client through the SNI port, naming `servername` (none for an IP), sending one HTTP request. */
function tlsRequest(port: number, servername: string | undefined): Promise<TlsResult> {
  return new Promise((resolve) => {
    const result: TlsResult = { authorized: false, subject: undefined, response: "", error: undefined };
    const socket = tls.connect({ host: "127.0.0.1", port, ...(servername ? { servername } : {}), ca: pki.ca });
    socket.on("secureConnect", () => {
      result.authorized = socket.authorized;
      result.subject = (socket.getPeerCertificate() as { subject?: { CN?: string } }).subject?.CN;
      socket.write(`GET / HTTP/1.1\r\nHost: ${servername}\r\nConnection: close\r\n\r\n`);
    });
    socket.on("data", (d: Buffer) => (result.response += d.toString()));
    socket.on("error", (e) => (result.error = e));
    socket.on("close", () => resolve(result));
  });
}

/** A raw TCP client: sends `chunks` (a pause between them), then waits for the proxy to close. */
async function rawExchange(port: number, chunks: (string | Uint8Array)[], options: { fin?: boolean; pauseMs?: number } = {}): Promise<{ received: Uint8Array; ended: boolean }> {
  const got: Uint8Array[] = [];
  let closed = false;
  let ended = false;
  const socket: Socket<undefined> = await Bun.connect({
    hostname: "127.0.0.1",
    port,
    allowHalfOpen: true,
    socket: { data: (_s, c) => void got.push(c.slice()), end: () => void (ended = true), close: () => void (closed = true), error() {} },
  });
  for (const [i, chunk] of chunks.entries()) {
    if (i > 0) await Bun.sleep(options.pauseMs ?? 20);
    socket.write(chunk);
  }
  if (options.fin) socket.shutdown();
  await until(() => closed || ended, "the proxy closing");
  await Bun.sleep(20);
  socket.terminate();
  return { received: Buffer.concat(got), ended };
}

describe("a named, allowed destination", () => {
  test("the TLS handshake is the upstream's, end to end, and one tunnel record tells it", async () => {
    const result = await tlsRequest(sniPort, "api.test");
    expect(result.error).toBeUndefined();
    expect(result.authorized).toBe(true);
    expect(result.subject).toBe("api.test");
    expect(result.response).toEndWith("upstream got api.test from 127.0.0.1");
    const r = await recordFor(`api.test:${upstream.port}`);
    expect(r).toMatchObject({
      kind: "tunnel",
      listener: "sni",
      method: "SNI",
      path: "",
      peer: "127.0.0.1",
      status: 200,
      cause: undefined,
      destination: `api.test:${upstream.port}`,
      dialed: `${UPSTREAM_HOST}:${upstream.port}`,
      egress: { allowed: true, reason: "allow-rule", rule: "api.test" },
      details: { proto: "TLS" },
    });
    expect(r.bytesIn).toBeGreaterThan(300);
    expect(r.bytesOut).toBeGreaterThan(500);
    expect(r.end).toBeDefined();
  });

  test("the client's bytes go up exactly as sent — a hello in three records, in pieces, and what follows it — with half-close both ways", async () => {
    const { port } = await startSni({ upstreamPort: recorder.port });
    const h = reframe(hello({ extensions: [serverNameExtension("Replay.OK.test")] }), [7, 30]);
    const after = new TextEncoder().encode("after the hello");
    const before = recorded.length;
    const { received } = await rawExchange(port, [h.subarray(0, 3), h.subarray(3, 40), h.subarray(40), after], { fin: true });
    expect(recorded.length).toBe(before + 1);
    const up = recorded[before]!;
    expect(Buffer.concat(up.bytes)).toEqual(Buffer.concat([h, after]));
    expect(up.ended).toBe(true);
    // Sent after our FIN reached the upstream: the way down still works when the way up has ended.
    expect(new TextDecoder().decode(received)).toBe("pong");
    const r = await recordFor(`replay.ok.test:${recorder.port}`);
    expect(r).toMatchObject({ status: 200, bytesIn: h.length + after.length, bytesOut: 4, egress: { reason: "allow-rule", rule: "*.ok.test" } });
  });
});

describe("refusals: closed, with a TLS alert where the client spoke TLS", () => {
  test("a name off the allow list: no DNS query, no dial, access_denied", async () => {
    const connections = upstreamConnections;
    const result = await tlsRequest(sniPort, "other.test");
    expect(result.authorized).toBe(false);
    expect(result.error?.message ?? "").toMatch(/access.denied/i);
    const r = await recordFor(`other.test:${upstream.port}`);
    expect(r).toMatchObject({ status: 403, cause: "egress-denied", egress: { allowed: false, reason: "not-in-allow-list" }, dialed: undefined, bytesIn: 0, bytesOut: 0 });
    expect(dns.queries.filter((q) => q.startsWith("other.test"))).toEqual([]);
    expect(upstreamConnections).toBe(connections);
    expect(logs.some((l) => l.includes("from 127.0.0.1 to other.test") && l.includes("not on the egress allow list"))).toBe(true);
  });

  test("a name that resolves to a denied address: looked up, never dialed", async () => {
    const connections = upstreamConnections;
    const result = await tlsRequest(sniPort, "evil.ok.test");
    expect(result.error?.message ?? "").toMatch(/access.denied/i);
    expect(await recordFor(`evil.ok.test:${upstream.port}`)).toMatchObject({ status: 403, cause: "egress-denied", egress: { allowed: false, reason: "deny-rule", rule: "127.0.0.3" } });
    expect(dns.queries).toContain("evil.ok.test A");
    expect(upstreamConnections).toBe(connections);
  });

  test("a name that does not resolve: unrecognized_name", async () => {
    const result = await tlsRequest(sniPort, "nx.ok.test");
    expect(result.error?.message ?? "").toMatch(/unrecognized.name/i);
    expect(await recordFor(`nx.ok.test:${upstream.port}`)).toMatchObject({ status: 502, cause: "dns-failed" });
  });

  test("no server name (a client dialing an IP): unrecognized_name, nothing dialed", async () => {
    const before = records.length;
    const connections = upstreamConnections;
    const result = await tlsRequest(sniPort, undefined);
    expect(result.error?.message ?? "").toMatch(/unrecognized.name/i);
    await until(() => records.length > before, "a record");
    expect(records.at(-1)!).toMatchObject({ kind: "tunnel", listener: "sni", method: "SNI", host: "", status: 400, cause: "bad-request", egress: undefined });
    expect(upstreamConnections).toBe(connections);
    expect(logs.at(-1)).toContain("no server_name in the ClientHello");
  });

  test("an IP literal as the name: unrecognized_name, the dial plan never asked", async () => {
    const before = records.length;
    const { received } = await rawExchange(sniPort, [hello({ extensions: [serverNameExtension("127.0.0.2")] })]);
    expect(received).toEqual(alertBytes(112));
    await until(() => records.length > before, "a record");
    expect(records.at(-1)!).toMatchObject({ host: "", status: 400, egress: undefined });
    expect(logs.at(-1)).toContain('server_name "127.0.0.2" is an IP literal');
  });

  test("a broken hello: decode_error; not TLS at all: closed without a word", async () => {
    const broken = await rawExchange(sniPort, [hello({ suites: [1, 2, 3] })]);
    expect(broken.received).toEqual(alertBytes(50));
    const before = records.length;
    const http = await rawExchange(sniPort, ["GET / HTTP/1.1\r\nHost: api.test\r\n\r\n"]);
    expect(http.received.length).toBe(0);
    await until(() => records.length > before, "a record");
    expect(records.at(-1)!).toMatchObject({ host: "", status: 400, cause: "bad-request" });
    expect(logs.at(-1)).toContain("not TLS");
  });

  test("a dial that fails: internal_error, 502", async () => {
    // Port 1 on 127.0.0.2: nothing listens there (never a freed port someone could take).
    const { port } = await startSni({ upstreamPort: 1 });
    const result = await tlsRequest(port, "api.test");
    expect(result.error?.message ?? "").toMatch(/internal.error/i);
    expect(await recordFor("api.test:1")).toMatchObject({ status: 502, cause: "dial-failed", dialed: `${UPSTREAM_HOST}:1` });
  });
});

describe("slow and silent clients", () => {
  test("no whole hello within the head timeout: closed, 408", async () => {
    const { port } = await startSni({ upstreamPort: recorder.port, headTimeout: 100 });
    const before = records.length;
    const h = hello({ extensions: [serverNameExtension("slow.ok.test")] });
    const started = Date.now();
    const { received } = await rawExchange(port, [h.subarray(0, 20)]);
    expect(Date.now() - started).toBeGreaterThanOrEqual(90);
    expect(received.length).toBe(0);
    await until(() => records.length > before, "a record");
    expect(records.at(-1)!).toMatchObject({ host: "", status: 408, cause: "request-timeout" });
  });

  test("a client that ends before its hello is complete: closed, no record", async () => {
    const before = records.length;
    const h = hello({ extensions: [serverNameExtension("slow.ok.test")] });
    const { received } = await rawExchange(sniPort, [h.subarray(0, 20)], { fin: true });
    expect(received.length).toBe(0);
    await Bun.sleep(50);
    expect(records.length).toBe(before);
  });

  test("a hello over the limit is refused from its header", async () => {
    const { received } = await rawExchange(sniPort, [new Uint8Array([22, 3, 1, 0, 4, 1, 0, 0x40, 0x01])]);
    expect(received).toEqual(alertBytes(50));
    expect(logs.at(-1)).toContain("the ClientHello is over 16384 bytes");
  });
});

describe("open connections and draining", () => {
  test("open counts connections; stop lets none in, drains, and cuts what outlives the grace", async () => {
    const { listener, port } = await startSni({ upstreamPort: recorder.port });
    expect(listener.open).toBe(0);
    const before = recorded.length;
    let closed = false;
    const client = await Bun.connect({ hostname: "127.0.0.1", port, socket: { data() {}, close: () => void (closed = true), error() {} } });
    client.write(hello({ extensions: [serverNameExtension("replay.ok.test")] }));
    await until(() => listener.open === 1, "one open connection");
    await until(() => recorded.length > before, "the tunnel open");
    expect(await listener.stop(100)).toBe("forced");
    await until(() => closed, "the client cut");
    expect(listener.open).toBe(0);
    // not listening any more
    await expect(Bun.connect({ hostname: "127.0.0.1", port, socket: { data() {} } })).rejects.toThrow();
    const { listener: idle } = await startSni({ upstreamPort: recorder.port });
    expect(await idle.stop(1000)).toBe("drained");
  });

  test("a second listener on the same port fails with the flag's name", async () => {
    const listener = sniListener({ hostname: "127.0.0.1", port: sniPort, upstreamPort: 443, dialPlan, exchanges, clock: systemClock, dialTimeout: 1000 });
    await expect(listener.start()).rejects.toThrow(`-sni-address 127.0.0.1:${sniPort}: address already in use`);
  });
});
