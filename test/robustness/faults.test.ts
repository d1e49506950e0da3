/**
 * Upstream faults against the compiled binary: one raw upstream per fault on a port of its own
 * (so each has a breaker of its own, opened by a single counted failure), a route to each, and a
 * raw client that sees exactly what the proxy sends. Each fault gets its documented status and
 * `X-Sallyport-Error`, or a response that is visibly cut short (never a short one that looks
 * whole); the breaker counts it exactly when the backend is at fault.
 *
 * DNS failures and timeouts of client-chosen destinations are in test/e2e/forward-egress.test.ts.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { Socket, TCPSocketListener } from "bun";
import { writeFile, mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startProxy, type RunningProxy } from "../support/binary.ts";
import { streamingUpstream, type StreamingUpstream } from "../support/streaming-upstream.ts";
import { signLeaf } from "../support/forward-tls.ts";
import { makeTestPki } from "../support/tls.ts";

const HEAD_TIMEOUT = "1s";
const BIG = 100_000;

/** What a raw upstream does once a request head has arrived. */
type Act = (socket: Socket<{ head: string }>) => void;

interface Fault {
  readonly name: string;
  readonly about: string;
  /** undefined: nothing listens on the port */
  readonly act?: Act;
  /** extra filters on its route */
  readonly filters?: string;
  readonly expect: { readonly status: number; readonly cause?: string } | "cut-short";
  /** whether its breaker counts it */
  readonly backendsFault: boolean;
}

const head = (status: string, fields: string[] = []) => `HTTP/1.1 ${status}\r\n${fields.map((f) => f + "\r\n").join("")}\r\n`;

const FAULTS: readonly Fault[] = [
  { name: "refused", about: "nothing listens", expect: { status: 502, cause: "dial-failed" }, backendsFault: true },
  { name: "reset-before-headers", about: "the connection is reset once the request arrived", act: (s) => s.terminate(), expect: { status: 502, cause: "connection-reset" }, backendsFault: true },
  { name: "closed-before-headers", about: "the connection is closed (FIN) once the request arrived", act: (s) => s.end(), expect: { status: 502, cause: "connection-reset" }, backendsFault: true },
  { name: "garbage", about: "an answer that is not HTTP", act: (s) => void s.end("HELLO THERE\r\n\r\n"), expect: { status: 502, cause: "bad-response" }, backendsFault: true },
  { name: "status-600", about: "status 600", act: (s) => void s.end(head("600 Beyond", ["Content-Length: 0"])), expect: { status: 502, cause: "bad-response" }, backendsFault: true },
  { name: "status-099", about: "status 099", act: (s) => void s.end(head("099 Below", ["Content-Length: 0"])), expect: { status: 502, cause: "bad-response" }, backendsFault: true },
  { name: "status-letters", about: "status 2x0", act: (s) => void s.end(head("2x0 What", ["Content-Length: 0"])), expect: { status: 502, cause: "bad-response" }, backendsFault: true },
  { name: "head-never-ends", about: "a status line and one field, then silence", act: (s) => void s.write("HTTP/1.1 200 OK\r\nX-A: 1\r\n"), expect: { status: 504, cause: "response-header-timeout" }, backendsFault: true },
  { name: "answers-nothing", about: "the request is taken and never answered", act: () => {}, expect: { status: 504, cause: "response-header-timeout" }, backendsFault: true },
  { name: "upgrade", about: "101 Switching Protocols nobody asked for", act: (s) => void s.write(head("101 Switching Protocols", ["Upgrade: websocket", "Connection: upgrade"])), expect: { status: 502, cause: "bad-response" }, backendsFault: true },
  {
    name: "interim",
    about: "100 Continue and 103 Early Hints before the 200",
    act: (s) => void s.end(head("100 Continue") + head("103 Early Hints", ["Link: </a.css>; rel=preload"]) + head("200 OK", ["Content-Length: 2"]) + "ok"),
    expect: { status: 200 },
    backendsFault: false,
  },
  { name: "length-lies", about: "Content-Length 100,000, 1,000 bytes, then a reset", act: (s) => (s.write(head("200 OK", [`Content-Length: ${BIG}`]) + "x".repeat(1000)), s.terminate()), expect: "cut-short", backendsFault: false },
  { name: "chunked-cut", about: "one chunk, then the connection closes without the last chunk", act: (s) => void s.end(head("200 OK", ["Transfer-Encoding: chunked"]) + "5\r\nhello\r\n"), expect: "cut-short", backendsFault: false },
  {
    name: "body-never-ends",
    about: "10 of 100,000 bytes, then silence; the route's backendTimeout(\"1s\") cuts it",
    act: (s) => void s.write(head("200 OK", [`Content-Length: ${BIG}`]) + "x".repeat(10)),
    filters: `backendTimeout("1s") -> `,
    expect: "cut-short",
    backendsFault: false,
  },
];

interface Answer {
  readonly status?: number;
  readonly cause?: string;
  /** the body arrived as its framing promised: Content-Length bytes, or chunked up to the last chunk */
  readonly whole: boolean;
}

/** One GET on a new connection, read until the proxy closes it. */
async function get(port: number, path: string): Promise<Answer> {
  let got = Buffer.alloc(0);
  const { promise, resolve } = Promise.withResolvers<void>();
  const socket = await Bun.connect({
    hostname: "127.0.0.1",
    port,
    socket: {
      data: (_s, bytes) => void (got = Buffer.concat([got, bytes])),
      close: () => resolve(),
      error: () => resolve(),
    },
  });
  socket.write(`GET ${path} HTTP/1.1\r\nHost: faults\r\nConnection: close\r\n\r\n`);
  await promise;
  const text = got.toString("latin1");
  const end = text.indexOf("\r\n\r\n");
  const headText = end < 0 ? text : text.slice(0, end);
  const body = end < 0 ? "" : text.slice(end + 4);
  const length = /\r\ncontent-length: *(\d+)/i.exec(headText)?.[1];
  const chunked = /\r\ntransfer-encoding: *chunked/i.test(headText);
  const whole = end >= 0 && (length !== undefined ? body.length === Number(length) : chunked ? body.endsWith("0\r\n\r\n") : true);
  return { status: Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1]) || undefined, cause: /\r\nx-sallyport-error: *([^\r\n]*)/i.exec(headText)?.[1], whole };
}

/** A raw upstream that calls `act` once a request head has arrived. */
function rawUpstream(act: Act): TCPSocketListener<{ head: string }> {
  return Bun.listen<{ head: string }>({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      open: (s) => void (s.data = { head: "" }),
      data(s, bytes) {
        if (s.data.head.includes("\r\n\r\n")) return;
        s.data.head += Buffer.from(bytes).toString("latin1");
        if (s.data.head.includes("\r\n\r\n")) act(s);
      },
    },
  });
}

/** A port nothing listens on: bound once, then let go. */
function freedPort(): number {
  const l = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = l.port;
  l.stop(true);
  return port;
}

const listeners: { stop(force?: boolean): void }[] = [];
const ports = new Map<string, number>();
let proxy: RunningProxy;
let endless: StreamingUpstream;

beforeAll(async () => {
  const routes: string[] = [];
  for (const f of FAULTS) {
    let port: number;
    if (f.act) {
      const l = rawUpstream(f.act);
      listeners.push(l);
      port = l.port;
    } else port = freedPort();
    ports.set(f.name, port);
    routes.push(`${f.name.replaceAll("-", "_")}: Path("/${f.name}") -> ${f.filters ?? ""}"http://127.0.0.1:${port}"`);
  }
  // TLS: a plain upstream behind an https route, and a certificate for another name.
  const pki = await makeTestPki();
  // What a plain HTTP server does with a ClientHello: a 400 and a close (nginx does), never a TLS record.
  const plain = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data: (s) => void s.end(head("400 Bad Request", ["Content-Length: 0", "Connection: close"])) } });
  const other = await signLeaf(pki, ["other.test"]);
  const wrongName = Bun.serve({ hostname: "127.0.0.1", port: 0, tls: { key: other.key, cert: other.cert }, fetch: () => new Response("wrong name") });
  listeners.push(plain, wrongName);
  ports.set("tls-plain", plain.port);
  ports.set("tls-wrong-name", wrongName.port!);
  routes.push(`tls_plain: Path("/tls-plain") -> "https://127.0.0.1:${plain.port}"`, `tls_wrong_name: Path("/tls-wrong-name") -> "https://127.0.0.1:${wrongName.port}"`);
  endless = streamingUpstream();
  listeners.push(endless);
  ports.set("endless", endless.port);
  routes.push(`endless: Path("/endless") -> "http://127.0.0.1:${endless.port}"`);
  const dir = await mkdtemp(join(tmpdir(), "sallyport-faults-"));
  const file = join(dir, "routes.eskip");
  await writeFile(file, routes.join(";\n") + ";\n");
  proxy = await startProxy(["-routes-file", file, "-backend-ca-file", pki.caFile, "-breaker", "type=consecutive,failures=1,timeout=1h", "-response-header-timeout-backend", HEAD_TIMEOUT]);
});

afterAll(async () => {
  await proxy?.stop();
  for (const l of listeners) l.stop(true);
});

/** Whether the breaker of the upstream on `port` is open, from /metrics. */
async function breakerOpen(port: number): Promise<boolean> {
  const scrape = await (await fetch(`${proxy.supportUrl}/metrics`)).text();
  return new RegExp(`^sallyport_circuit_breaker_state\\{host="127\\.0\\.0\\.1:${port}",state="open"\\} 1$`, "m").test(scrape);
}

describe("upstream faults", () => {
  for (const f of FAULTS) {
    test(`${f.name} (${f.about}): ${f.expect === "cut-short" ? "the client sees the body cut short" : `${f.expect.status} ${f.expect.cause ?? ""}`}; the breaker ${f.backendsFault ? "counts it" : "does not count it"}`, async () => {
      const answer = await get(proxy.port, `/${f.name}`);
      if (f.expect === "cut-short") expect({ status: answer.status, whole: answer.whole }).toEqual({ status: 200, whole: false });
      else expect({ status: answer.status, cause: answer.cause }).toEqual({ status: f.expect.status, cause: f.expect.cause });
      expect(await breakerOpen(ports.get(f.name)!)).toBe(f.backendsFault);
    });
  }

  test("https to an upstream that speaks plain HTTP: 502 tls-failed, counted", async () => {
    expect(await get(proxy.port, "/tls-plain")).toMatchObject({ status: 502, cause: "tls-failed" });
    expect(await breakerOpen(ports.get("tls-plain")!)).toBe(true);
  });

  test("a certificate for another name: 502 tls-failed, counted", async () => {
    expect(await get(proxy.port, "/tls-wrong-name")).toMatchObject({ status: 502, cause: "tls-failed" });
    expect(await breakerOpen(ports.get("tls-wrong-name")!)).toBe(true);
  });

  test("a client that leaves mid-download: the upstream still sending is closed within a second, and its breaker does not count it", async () => {
    let received = 0;
    const { promise: streaming, resolve } = Promise.withResolvers<void>();
    const socket = await Bun.connect({
      hostname: "127.0.0.1",
      port: proxy.port,
      socket: { data: (_s, bytes) => void ((received += bytes.length) > 1 << 20 && resolve()) },
    });
    socket.write("GET /endless HTTP/1.1\r\nHost: faults\r\n\r\n");
    await streaming;
    expect(endless.open()).toBe(1);
    socket.terminate();
    const closedBy = Date.now() + 1000;
    while (endless.open() > 0 && Date.now() < closedBy) await Bun.sleep(10);
    expect(endless.open()).toBe(0);
    expect(await breakerOpen(endless.port)).toBe(false);
  });
});
