/**
 * Our backend client on real sockets: raw TCP servers on 127.0.0.1 that answer exactly what a
 * test writes, Bun.serve where a real server is the point, a TLS server from the test CA. Keep-
 * alive reuse, every framing, request bodies with and without a length, backpressure on a slow
 * reader, a pooled connection the backend closed (tried once more, not for POST), resets, aborts,
 * TLS verified against the name, and what a failure's code says.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { Socket, TCPSocketListener } from "bun";
import { HttpClient, type ClientRequest, type ClientResponse } from "../../src/client/client.ts";
import type { WatchedStream } from "../../src/util/stream.ts";
import { signLeaf } from "../support/forward-tls.ts";
import { makeTestPki, type TestPki } from "../support/tls.ts";

interface Raw {
  readonly port: number;
  /** connections accepted so far */
  connections: number;
  /** every request's bytes, as text, per connection */
  readonly requests: string[];
  stop(): void;
}

/** A TCP server; `answer` is called with each chunk a connection sends (and its socket). */
function raw(answer: (socket: Socket<{ n: number }>, text: string) => void): Raw {
  const server: Raw = { port: 0, connections: 0, requests: [], stop: () => listener.stop(true) };
  const listener: TCPSocketListener<{ n: number }> = Bun.listen<{ n: number }>({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      open(socket) {
        socket.data = { n: server.connections++ };
      },
      data(socket, bytes) {
        const text = new TextDecoder().decode(bytes);
        server.requests.push(text);
        answer(socket, text);
      },
    },
  });
  (server as { port: number }).port = listener.port;
  return server;
}

const client = new HttpClient();
afterAll(() => client.close());

const call = (port: number, extra: Partial<ClientRequest> = {}) => client.request({ hostname: "127.0.0.1", port, method: "GET", target: "/x", headers: new Headers({ host: "backend.test" }), body: null, ...extra });
const request = (port: number, extra: Partial<ClientRequest> = {}): Promise<ClientResponse> => call(port, extra).response;

async function text(res: ClientResponse): Promise<string> {
  if (res.body === null) return "";
  if (res.body instanceof Uint8Array) return new TextDecoder().decode(res.body);
  return new Response(res.body.stream).text();
}

const OK = (body: string, extra = "") => `HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n${extra}\r\n${body}`;

describe("keep-alive", () => {
  test("sequential requests share one connection; the request is what we asked for", async () => {
    const server = raw((s) => s.write(OK("hi")));
    for (let i = 0; i < 3; i++) expect(await text(await request(server.port))).toBe("hi");
    expect(server.connections).toBe(1);
    expect(server.requests[0]).toBe("GET /x HTTP/1.1\r\nhost: backend.test\r\n\r\n");
    server.stop();
  });

  test("Connection: close, or a body that runs to the close, is not reused", async () => {
    const closing = raw((s) => s.write(OK("a", "Connection: close\r\n")));
    await text(await request(closing.port));
    await text(await request(closing.port));
    expect(closing.connections).toBe(2);
    closing.stop();
    const unframed = raw((s) => {
      s.write("HTTP/1.1 200 OK\r\n\r\nuntil close");
      s.end();
    });
    expect(await text(await request(unframed.port))).toBe("until close");
    expect(await text(await request(unframed.port))).toBe("until close");
    expect(unframed.connections).toBe(2);
    unframed.stop();
  });

  test("a pooled connection the backend closed: a GET goes once more on a new one; a POST fails", async () => {
    let closeNext = false;
    const server = raw((s) => {
      if (closeNext) {
        closeNext = false;
        return void s.terminate();
      }
      s.write(OK("ok"));
    });
    expect(await text(await request(server.port))).toBe("ok");
    closeNext = true;
    expect(await text(await request(server.port))).toBe("ok");
    expect(server.connections).toBe(2);
    closeNext = true;
    const post = await request(server.port, { method: "POST" }).catch((e: { code?: string }) => e.code);
    expect(post).toBe("ECONNRESET");
    server.stop();
  });

  test("a reset on a new connection is not tried again", async () => {
    const server = raw((s) => s.terminate());
    expect(await request(server.port).catch((e: { code?: string }) => e.code)).toBe("ECONNRESET");
    expect(server.connections).toBe(1);
    server.stop();
  });
});

describe("response framing", () => {
  test("chunked, in pieces of every size, then the connection serves again", async () => {
    const server = raw((s) => {
      s.write("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel");
      setTimeout(() => s.write("lo\r\n6\r\n world\r\n0\r\n\r\n"), 5);
    });
    const res = await request(server.port);
    expect(res.body).not.toBeInstanceOf(Uint8Array);
    expect(await text(res)).toBe("hello world");
    expect(await text(await request(server.port))).toBe("hello world");
    expect(server.connections).toBe(1);
    server.stop();
  });

  test("a body that came with its head is bytes, so is a Content-Length body up to 64 KiB split over reads; a bigger one is a stream, counted to its end", async () => {
    const big = 64 * 1024 + 1;
    const server = raw((s, t) => {
      if (t.startsWith("GET /whole")) return void s.write(OK("whole"));
      if (t.startsWith("GET /small")) {
        s.write("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n01234");
        return void setTimeout(() => s.write("56789"), 5);
      }
      s.write(`HTTP/1.1 200 OK\r\nContent-Length: ${big}\r\n\r\n${"a".repeat(1000)}`);
      setTimeout(() => s.write("b".repeat(big - 1000)), 5);
    });
    const whole = await request(server.port, { target: "/whole" });
    expect(whole.body).toBeInstanceOf(Uint8Array);
    const small = await request(server.port, { target: "/small" });
    expect(small.body).toBeInstanceOf(Uint8Array);
    expect(await text(small)).toBe("0123456789");
    const split = await request(server.port, { target: "/big" });
    const watched = split.body as WatchedStream;
    const ended = new Promise((resolve) => watched.onEnd((end, bytes) => resolve([end.kind, bytes])));
    expect((await text(split)).length).toBe(big);
    expect(await ended).toEqual(["done", big]);
    expect(server.connections).toBe(1);
    server.stop();
  });

  test("HEAD, 204 and 304 have no body; 100 Continue is read past", async () => {
    const server = raw((s, t) => {
      if (t.startsWith("HEAD")) return void s.write("HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n");
      if (t.includes("/continue")) return void s.write("HTTP/1.1 100 Continue\r\n\r\n" + OK("after"));
      s.write("HTTP/1.1 204 No Content\r\n\r\n");
    });
    const head = await request(server.port, { method: "HEAD" });
    expect([head.status, head.body, head.headers.get("content-length")]).toEqual([200, null, "99"]);
    expect((await request(server.port, { target: "/none" })).body).toBeNull();
    const continued = await request(server.port, { target: "/continue" });
    expect([continued.status, await text(continued)]).toEqual([200, "after"]);
    expect(server.connections).toBe(1);
    server.stop();
  });

  test.each([
    ["101 unasked", "HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n", "UnrequestedUpgrade"],
    ["not HTTP", "SSH-2.0-OpenSSH\r\n\r\n", "InvalidHTTPResponse"],
    ["a head over 64 KiB", `HTTP/1.1 200 OK\r\nX: ${"a".repeat(70_000)}\r\n\r\n`, "ResponseHeadersTooLarge"],
    ["bad chunks", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nxyz\r\n", "InvalidChunkedEncoding"],
  ])("%s: refused with its code", async (_name, answer, code) => {
    const server = raw((s) => s.write(answer));
    const res = await request(server.port).then(
      async (r) => (r.body instanceof Uint8Array || r.body === null ? "resolved" : await new Response(r.body.stream).text().catch((e: { code?: string }) => e.code)),
      (e: { code?: string }) => e.code,
    );
    expect(res).toBe(code);
    server.stop();
  });

  test("a streamed body cut short is an error on the stream, after the head was answered; a small one gathered whole fails the call", async () => {
    const server = raw((s, t) => {
      s.write(`HTTP/1.1 200 OK\r\nContent-Length: ${t.includes("/small") ? 100 : 100_000}\r\n\r\npartial`);
      setTimeout(() => s.terminate(), 5);
    });
    const res = await request(server.port);
    expect(res.status).toBe(200);
    expect(await new Response((res.body as WatchedStream).stream).text().catch((e: { code?: string }) => e.code)).toBe("ECONNRESET");
    expect(await request(server.port, { target: "/small" }).then(() => "answered", (e: { code?: string }) => e.code)).toBe("ECONNRESET");
    server.stop();
  });
});

describe("request bodies", () => {
  /** A Bun.serve that answers with the body it read and how it was framed. */
  let echo: ReturnType<typeof Bun.serve>;
  beforeAll(() => {
    echo = Bun.serve({
      hostname: "127.0.0.1",
      port: 0,
      async fetch(req) {
        const body = await req.text();
        return new Response(`${req.headers.get("content-length") ?? "-"} ${req.headers.get("transfer-encoding") ?? "-"} ${body.length} ${body.slice(0, 10)}`);
      },
    });
  });
  afterAll(() => echo.stop(true));

  const streamOf = (...chunks: string[]) =>
    new ReadableStream<Uint8Array>({
      async pull(controller) {
        const chunk = chunks.shift();
        if (chunk === undefined) return controller.close();
        await Bun.sleep(1);
        controller.enqueue(new TextEncoder().encode(chunk));
      },
    });

  test("without a length: chunked; with one: as is; a POST without a body says Content-Length: 0", async () => {
    const chunked = await request(echo.port!, { method: "POST", body: streamOf("abc", "defgh") });
    expect(await text(chunked)).toBe("- chunked 8 abcdefgh");
    const sized = await request(echo.port!, { method: "PUT", body: streamOf("12345"), headers: new Headers({ host: "h", "content-length": "5" }) });
    expect(await text(sized)).toBe("5 - 5 12345");
    expect(await text(await request(echo.port!, { method: "POST" }))).toBe("0 - 0 ");
  });

  test("a large upload streams with backpressure, whole", async () => {
    const megabyte = "x".repeat(1 << 20);
    const res = await request(echo.port!, { method: "POST", body: streamOf(...Array.from({ length: 16 }, () => megabyte)) });
    expect(await text(res)).toBe(`- chunked ${16 << 20} xxxxxxxxxx`);
  });

  test("a body that fails mid-way fails the request", async () => {
    const failing = new ReadableStream<Uint8Array>({
      pull(controller) {
        controller.error(Object.assign(new Error("client gone"), { code: "ClientGone" }));
      },
    });
    expect(await request(echo.port!, { method: "POST", body: failing }).catch((e: { code?: string }) => e.code)).toBe("ClientGone");
  });
});

describe("aborts and backpressure", () => {
  test("an abort before the head: rejected with the reason, the socket closed", async () => {
    let closed = false;
    const listener = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {}, close: () => void (closed = true) } });
    const pending = call(listener.port);
    await Bun.sleep(20);
    pending.abort(new Error("deadline"));
    expect(await pending.response.catch((e: Error) => e.message)).toBe("deadline");
    await Bun.sleep(20);
    expect(closed).toBe(true);
    listener.stop(true);
  });

  test("a reader that does not read pauses the socket: the backend's writes back up", async () => {
    let shortWrites = 0;
    const chunk = Buffer.alloc(256 * 1024, 1);
    const server = raw((s) => {
      s.write(`HTTP/1.1 200 OK\r\nContent-Length: ${64 * chunk.length}\r\n\r\n`);
      let sent = 0;
      const push = () => {
        while (sent < 64) {
          sent++;
          if (s.write(chunk) < chunk.length) {
            shortWrites++;
            return void setTimeout(push, 5);
          }
        }
      };
      push();
    });
    const res = await request(server.port);
    await Bun.sleep(200);
    // Nothing read: the client holds a few chunks, the kernel buffers fill, the server waits.
    expect(shortWrites).toBeGreaterThan(0);
    expect((res.body as WatchedStream).bytes).toBeLessThan(32 * chunk.length);
    await (res.body as WatchedStream).stream.cancel();
    server.stop();
  });
});

describe("TLS", () => {
  let pki: TestPki;
  let server: ReturnType<typeof Bun.serve>;
  beforeAll(async () => {
    pki = await makeTestPki();
    const leaf = await signLeaf(pki, ["backend.test"]);
    server = Bun.serve({ hostname: "127.0.0.1", port: 0, tls: { key: leaf.key, cert: leaf.cert }, fetch: (req) => new Response(`tls ${req.headers.get("host")}`) });
  });
  afterAll(() => server.stop(true));

  test("to the IP, verified against the name, reused", async () => {
    const options = { ca: [pki.ca] };
    const tls = { serverName: "backend.test", options };
    expect(await text(await request(server.port!, { tls }))).toBe("tls backend.test");
    expect(await text(await request(server.port!, { tls }))).toBe("tls backend.test");
  });

  test("a name the certificate does not hold, or a CA nobody trusts: a TLS code", async () => {
    const wrongName = await request(server.port!, { tls: { serverName: "other.test", options: { ca: [pki.ca] } } }).catch((e: { code?: string }) => e.code);
    expect(wrongName).toMatch(/ERR_TLS|CERT/);
    const untrusted = await request(server.port!, { tls: { serverName: "backend.test", options: undefined } }).catch((e: { code?: string }) => e.code);
    expect(untrusted).toMatch(/CERT|VERIFY|SIGNATURE|ISSUER/);
    const insecure = await request(server.port!, { tls: { serverName: "backend.test", options: { rejectUnauthorized: false } } });
    expect(await text(insecure)).toBe("tls backend.test");
  });
});

test("a port nobody listens on: ECONNREFUSED", async () => {
  const listener = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = listener.port;
  listener.stop(true);
  expect(await request(port).catch((e: { code?: string }) => e.code)).toBe("ECONNREFUSED");
});

test("an abort mid-body fails the body stream with the reason; an abort after the end changes nothing", async () => {
  const server = raw((s, t) => {
    if (t.includes("/whole")) return void s.write(OK("done"));
    s.write(`HTTP/1.1 200 OK\r\nContent-Length: ${t.includes("/gathering") ? 100 : 100_000}\r\n\r\nstart`);
  });
  const streaming = call(server.port, { target: "/slow" });
  const res = await streaming.response;
  streaming.abort(new Error("backend timeout"));
  expect(await new Response((res.body as WatchedStream).stream).text().catch((e: Error) => e.message)).toBe("backend timeout");
  // A small body still being gathered: the call itself fails.
  const gathering = call(server.port, { target: "/gathering" });
  for (let i = 0; i < 100 && server.connections < 2; i++) await Bun.sleep(5);
  gathering.abort(new Error("backend timeout"));
  expect(await gathering.response.then(() => "answered", (e: Error) => e.message)).toBe("backend timeout");
  const whole = call(server.port, { target: "/whole" });
  expect(await text(await whole.response)).toBe("done");
  whole.abort(new Error("too late"));
  // The connection went back to the pool and still serves.
  expect(await text(await request(server.port, { target: "/whole" }))).toBe("done");
  expect(server.connections).toBe(3);
  server.stop();
});

test("idle connections the backend closes leave the pool", async () => {
  const sockets: Socket<{ n: number }>[] = [];
  const server = raw((s) => {
    sockets.push(s);
    s.write(OK("ok"));
  });
  const own = new HttpClient();
  const send = () => own.request({ hostname: "127.0.0.1", port: server.port, method: "GET", target: "/", headers: new Headers({ host: "h" }), body: null }).response.then(text);
  await Promise.all([send(), send(), send()]);
  expect(own.idle).toBe(3);
  for (const s of sockets) s.end();
  for (let i = 0; i < 100 && own.idle > 0; i++) await Bun.sleep(5);
  expect(own.idle).toBe(0);
  own.close();
  server.stop();
});
