/**
 * The plain-HTTP request framer: heads handed to the hook and replaced, bodies passed through
 * untouched as RFC 9112 §6.3 frames them, whatever the chunk boundaries; and the framings it
 * refuses to guess at.
 */
import { describe, expect, test } from "bun:test";
import { HEAD_TOO_LARGE, MAX_CHUNK_LINE, RequestFramer, type HeadVerdict } from "../../src/tunnel/framer.ts";
import { MAX_HEAD_BYTES, type RequestHead } from "../../src/tunnel/head.ts";

/** One byte per character (latin1), as the wire has it: "\xa0" is the byte A0, not UTF-8. */
const enc = (s: string) => Uint8Array.from(s, (c) => c.charCodeAt(0));
const latin1 = (b: Uint8Array) => new TextDecoder("latin1").decode(b);
/** What the test hook sends instead of a head. */
const marker = (method: string, target: string) => `[${method} ${target}]`;

interface Seen {
  readonly method: string;
  readonly target: string;
  readonly raw: string;
  /** framer.requests inside the hook */
  readonly number: number;
  /** what had gone out when the hook ran */
  readonly outBefore: string;
}

/** A framer whose hook records each head and replaces it with its marker (or stops, if `verdict` says so). */
function framer(options: { limit?: number; verdict?: (head: RequestHead) => HeadVerdict | undefined } = {}) {
  const out: string[] = [];
  const views: Uint8Array[] = [];
  const heads: Seen[] = [];
  const stops: string[] = [];
  const f: RequestFramer = new RequestFramer({
    limit: options.limit,
    out: (bytes) => {
      views.push(bytes);
      out.push(latin1(bytes)); // decoded now: the view is only good during the call
    },
    head: (head, raw) => {
      heads.push({ method: head.method, target: head.target, raw: latin1(raw), number: f.requests, outBefore: out.join("") });
      return options.verdict?.(head) ?? enc(marker(head.method, head.target));
    },
    onStop: (reason) => stops.push(reason),
  });
  return { f, out, views, heads, stops, sent: () => out.join("") };
}

/**
 * Feeds `stream` cut at `cuts` the way Bun feeds a data handler: every chunk in the same buffer,
 * overwritten once the handler returns, so whatever the framer kept without copying turns to '#'.
 */
function feed(f: RequestFramer, stream: Uint8Array, cuts: readonly number[]): void {
  const socketBuffer = new Uint8Array(stream.length);
  let at = 0;
  for (const cut of [...cuts, stream.length]) {
    const chunk = socketBuffer.subarray(0, cut - at);
    chunk.set(stream.subarray(at, cut));
    f.push(chunk);
    chunk.fill(0x23);
    at = cut;
  }
}

const bytewise = (stream: Uint8Array) => Array.from({ length: stream.length - 1 }, (_, i) => i + 1);

describe("three requests in one stream, cut anywhere", () => {
  // Transfer-Encoding overrides the Content-Length; the last coding is chunked (any case);
  // the data holds what a miscounting framer would take for the body's end and a new head.
  const chunkedHead = "POST http://a.test/upload HTTP/1.1\r\nHost: a.test\r\nTransfer-Encoding: gzip, Chunked\r\nContent-Length: 5\r\n\r\n";
  const sneaky = "\r\n0\r\n\r\nGET /x HTTP/1.1\r\nHost: x\r\n\r\n";
  // sizes in both cases of hex, with leading zeros and extensions
  const chunkedBody =
    `5;name=value;q="a b"\r\nhello\r\n${sneaky.length.toString(16).padStart(4, "0")}\r\n${sneaky}\r\n` +
    "a;x\r\n0123456789\r\nB\r\n\r\n0\r\n\r\nhijk\r\n" +
    "0;last\r\nX-Checksum: abc\r\nX-Empty:\r\n\r\n";
  const lengthBody = "0\r\n\r\nGET / HTTP/1.1\r\n";
  const lengthHead = `PUT /put HTTP/1.1\r\nHost: b.test\r\ncontent-length: ${lengthBody.length}\r\n\r\n`;
  // An empty line before a request line is part of its head (RFC 9112 §2.2).
  const lastHead = "\r\nGET http://c.test/ HTTP/1.1\r\nHost: c.test\r\n\r\n";
  const stream = enc(chunkedHead + chunkedBody + lengthHead + lengthBody + lastHead);
  const expected = marker("POST", "http://a.test/upload") + chunkedBody + marker("PUT", "/put") + lengthBody + marker("GET", "http://c.test/");

  function check(cuts: readonly number[]) {
    const t = framer();
    feed(t.f, stream, cuts);
    expect(t.sent()).toBe(expected);
    expect(t.stops).toEqual([]);
    expect(t.heads.map((h) => [h.method, h.target, h.raw, h.number])).toEqual([
      ["POST", "http://a.test/upload", chunkedHead, 1],
      ["PUT", "/put", lengthHead, 2],
      ["GET", "http://c.test/", lastHead, 3],
    ]);
    expect(t.f.requests).toBe(3);
    expect(t.f.idle).toBe(true);
  }

  test("in one chunk (pipelined)", () => check([]));
  test("a byte at a time", () => check(bytewise(stream)));
  test("in two chunks, cut at every offset", () => {
    for (let cut = 0; cut <= stream.length; cut++) check([cut]);
  });
  test("in three chunks, cut at every pair of offsets", () => {
    for (let a = 1; a < stream.length; a++) for (let b = a + 1; b < stream.length; b++) check([a, b]);
  });

  test("a head's hook runs once everything before it is out, and knows its number", () => {
    const t = framer();
    feed(t.f, stream, []);
    expect(t.heads.map((h) => h.outBefore)).toEqual(["", marker("POST", "http://a.test/upload") + chunkedBody, expected.slice(0, expected.length - marker("GET", "http://c.test/").length)]);
  });
});

describe("bodies are passed on as views of the input, a chunk in one piece", () => {
  test("a Content-Length body in 64 KiB chunks: one out() per chunk, the chunk itself", () => {
    const t = framer();
    const size = 1 << 20;
    t.f.push(enc(`POST /big HTTP/1.1\r\nContent-Length: ${size}\r\n\r\n`));
    t.views.length = 0;
    const chunks = Array.from({ length: size / 65536 }, () => new Uint8Array(65536).fill(0x61));
    for (const chunk of chunks) t.f.push(chunk);
    expect(t.views).toEqual(chunks);
    t.views.forEach((v, i) => expect(v.buffer).toBe(chunks[i]!.buffer));
    expect(t.f.idle).toBe(true);
  });

  test("chunked data is not copied either", () => {
    const t = framer();
    t.f.push(enc("POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"));
    const chunk = enc("3\r\nabc\r\n0\r\n\r\n");
    t.f.push(chunk);
    expect(t.views.at(-1)!.buffer).toBe(chunk.buffer);
    expect(t.views.at(-1)!.length).toBe(chunk.length);
  });

  test("a 64 KiB head dripped in a byte at a time is one head", () => {
    const t = framer();
    const head = `GET / HTTP/1.1\r\nX-Big: ${"a".repeat(MAX_HEAD_BYTES - 30)}\r\n\r\n`;
    const stream = enc(head);
    expect(stream.length).toBeLessThanOrEqual(MAX_HEAD_BYTES);
    for (let i = 0; i < stream.length; i++) t.f.push(stream.subarray(i, i + 1));
    expect(t.heads.map((h) => h.raw)).toEqual([head]);
  });
});

describe("keep-alive bookkeeping", () => {
  test("idle between requests, not inside a head or a body; requests counts heads", () => {
    const t = framer();
    const states: [boolean, number][] = [];
    for (const piece of [
      "GET /a HTTP/1.1\r\nHost",
      ": x\r\n\r\n",
      "POST /b HTTP/1.1\r\nContent-Length: 3\r\n\r\nab",
      "c",
      "POST /c HTTP/1.1\r\nContent-Length: 0\r\n\r\n",
      "POST /d HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n",
      "\r\n",
    ]) {
      t.f.push(enc(piece));
      states.push([t.f.idle, t.f.requests]);
    }
    expect(states).toEqual([
      [false, 0],
      [true, 1],
      [false, 2],
      [true, 2],
      [true, 3],
      [false, 4],
      [true, 4],
    ]);
  });
});

describe("blind after CONNECT or Upgrade", () => {
  test.each([
    ["CONNECT", "CONNECT a.test:443 HTTP/1.1\r\nHost: a.test:443\r\n\r\n", marker("CONNECT", "a.test:443")],
    ["Upgrade", "GET /ws HTTP/1.1\r\nHost: a\r\nupgrade: websocket\r\nConnection: Upgrade\r\n\r\n", marker("GET", "/ws")],
  ])("%s: what follows the head passes through unread", (_, head, replaced) => {
    const t = framer();
    const after = "\x16\x03\x01\x00\x05\r\n\r\nGET / HTTP/1.1\nnot http at all";
    t.f.push(enc("GET /first HTTP/1.1\r\n\r\n" + head + after.slice(0, 9)));
    expect(t.f.blind).toBe(true);
    expect(t.f.idle).toBe(false);
    t.f.push(enc(after.slice(9)));
    expect(t.sent()).toBe(marker("GET", "/first") + replaced + after);
    expect(t.heads).toHaveLength(2);
    expect(t.stops).toEqual([]);
  });
});

describe("stops: once, and nothing more goes out", () => {
  const ok = "GET /ok HTTP/1.1\r\nHost: x\r\n\r\n";
  const post = (headers: string, body = "", version = "HTTP/1.1") => `${ok}POST /p ${version}\r\nHost: x\r\n${headers}\r\n${body}`;
  const chunked = (body: string) => post("Transfer-Encoding: chunked\r\n", body);
  const okSent = marker("GET", "/ok");
  const chunkedSent = (before: string) => okSent + marker("POST", "/p") + before;

  // [what, stream, reason, what went out before the stop]
  const cases: [string, string, string, string][] = [
    ["a coding after chunked", post("Transfer-Encoding: chunked, gzip\r\n"), "transfer-encoding without chunked", okSent],
    ["no chunked at all", post("Transfer-Encoding: gzip\r\n"), "transfer-encoding without chunked", okSent],
    ["an empty Transfer-Encoding", post("Transfer-Encoding: \r\n"), "transfer-encoding without chunked", okSent],
    ["chunked, then another header", post("Transfer-Encoding: chunked\r\ntransfer-encoding: gzip\r\n"), "transfer-encoding without chunked", okSent],
    ["chunked followed by NBSP", post("Transfer-Encoding: chunked\xa0\r\n"), "transfer-encoding without chunked", okSent],
    ["Transfer-Encoding in HTTP/1.0", post("Transfer-Encoding: chunked\r\n", "0\r\n\r\n", "HTTP/1.0"), "transfer-encoding in an HTTP/1.0 request", okSent],
    ["two different Content-Lengths", post("Content-Length: 3\r\nContent-Length: 4\r\n", "abcd"), "content-length is not one number", okSent],
    ["a list of different lengths", post("Content-Length: 3, 4\r\n", "abcd"), "content-length is not one number", okSent],
    ["the same length spelt twice", post("Content-Length: 3, 03\r\n", "abc"), "content-length is not one number", okSent],
    ["a signed length", post("Content-Length: +3\r\n", "abc"), "content-length is not one number", okSent],
    ["an empty length", post("Content-Length: \r\n"), "content-length is not one number", okSent],
    ["an empty list element", post("Content-Length: 3,\r\n", "abc"), "content-length is not one number", okSent],
    ["a length past 15 digits", post("Content-Length: 1000000000000000\r\n"), "content-length is too large", okSent],
    ["a head with bare LFs", `${ok}GET / HTTP/1.1\nHost: x\n\n`, "a line ends without CRLF", okSent],
    ["a space after the chunk size", chunked("5 \r\nhello\r\n0\r\n\r\n"), "a chunk-size line has a byte it may not have", chunkedSent("5")],
    ["a bare LF after the chunk size", chunked("5\nhello\r\n0\r\n\r\n"), "a chunk-size line has a byte it may not have", chunkedSent("5")],
    ["no chunk size", chunked("\r\nhello\r\n0\r\n\r\n"), "a chunk-size line does not start with a hex digit", chunkedSent("")],
    ["a chunk size not in hex", chunked("g\r\n"), "a chunk-size line does not start with a hex digit", chunkedSent("")],
    ["a control character in an extension", chunked("5;a\x01\r\nhello"), "a chunk-size line has a byte it may not have", chunkedSent("5;a")],
    ["a bare CR in an extension", chunked("5;a\rb\r\nhello"), "a line of the chunked body does not end with CRLF", chunkedSent("5;a\r")],
    ["data one byte longer than its size", chunked("5\r\nhelloX\r\n0\r\n\r\n"), "a line of the chunked body does not end with CRLF", chunkedSent("5\r\nhello")],
    ["data followed by CR alone", chunked("5\r\nhello\rX"), "a line of the chunked body does not end with CRLF", chunkedSent("5\r\nhello\r")],
    ["a chunk size of 2^52", chunked("10000000000000\r\n"), "a chunk size is too large", chunkedSent("1000000000000")],
    ["a chunk-size line past the limit", chunked(`5;${"e".repeat(MAX_CHUNK_LINE)}\r\n`), "a chunk-size line is too long", chunkedSent(`5;${"e".repeat(MAX_CHUNK_LINE - 2)}`)],
    ["a request line as a trailer", chunked("0\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n"), "a trailer line is not a header field", chunkedSent("0\r\nGET")],
    ["a trailer line without a colon", chunked("0\r\nX-Sum\r\n\r\n"), "a trailer line is not a header field", chunkedSent("0\r\nX-Sum")],
    ["a trailer field ending in a bare LF", chunked("0\r\nX: y\n\r\n"), "a trailer field has control characters", chunkedSent("0\r\nX: y")],
    ["no LF after the trailers' CR", chunked("0\r\n\rX"), "a line of the chunked body does not end with CRLF", chunkedSent("0\r\n\r")],
  ];

  for (const [what, text, reason, before] of cases) {
    const stream = enc(text + "GET /after HTTP/1.1\r\n\r\n");
    test.each([
      ["in one chunk", []],
      ["a byte at a time", bytewise(stream)],
    ])(`${what} (%s)`, (_, cuts) => {
      const t = framer();
      feed(t.f, stream, cuts);
      expect(t.stops).toEqual([reason]);
      expect(t.sent()).toBe(before);
      expect(t.f.stopped).toBe(true);
      // the stop is final
      t.f.push(enc("GET /later HTTP/1.1\r\n\r\n"));
      expect(t.stops).toEqual([reason]);
      expect(t.sent()).toBe(before);
    });
  }

  test("a refused head is not passed to the hook; a stop on a head leaves the framer idle, one in a body does not", () => {
    const head = framer();
    head.f.push(enc(post("Transfer-Encoding: gzip\r\n")));
    expect(head.heads.map((h) => h.target)).toEqual(["/ok"]);
    expect(head.f.requests).toBe(2);
    expect(head.f.idle).toBe(true);
    const body = framer();
    body.f.push(enc(chunked("5\r\nhelloX")));
    expect(body.f.idle).toBe(false);
  });

  test("the hook stops a request: its head does not go out", () => {
    const t = framer({ verdict: (h) => (h.target === "/deny" ? { stop: "denied" } : undefined) });
    t.f.push(enc(`${ok}POST /deny HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc${ok}`));
    expect(t.stops).toEqual(["denied"]);
    expect(t.sent()).toBe(okSent);
    expect(t.f.requests).toBe(2);
  });

  test("chunk sizes up to 2^52 - 1, and size lines each up to the limit, are fine", () => {
    const t = framer();
    const longest = `${"0".repeat(MAX_CHUNK_LINE - 3)}1\r\nx\r\n`;
    t.f.push(enc(chunked(`${longest}${longest}fffffffffffff\r\nabc`)));
    expect(t.stops).toEqual([]);
    expect(t.f.idle).toBe(false);
  });

  test("a bare LF stops a head at once, without waiting for an empty line", () => {
    const t = framer();
    t.f.push(enc(`${ok}GET / HT`));
    t.f.push(enc("TP/1.1\nHost: x"));
    expect(t.stops).toEqual(["a line ends without CRLF"]);
  });
});

describe("the head limit", () => {
  const head = (size: number) => {
    const text = `GET / HTTP/1.1\r\nX: ${"a".repeat(size - 23)}\r\n\r\n`;
    expect(text.length).toBe(size);
    return enc(text);
  };

  test.each([
    ["one chunk", (s: Uint8Array) => [] as number[]],
    ["a byte at a time", bytewise],
    ["after a request, in two chunks", (s: Uint8Array) => [s.length >> 1]],
  ])("MAX_HEAD_BYTES is the default and a head that long is fine; a byte more is too large (%s)", (_, cuts) => {
    const before = enc("GET /first HTTP/1.1\r\n\r\n");
    for (const [size, stops] of [
      [MAX_HEAD_BYTES, []],
      [MAX_HEAD_BYTES + 1, [HEAD_TOO_LARGE]],
    ] as const) {
      const stream = new Uint8Array([...before, ...head(size)]);
      const t = framer();
      feed(t.f, stream, cuts(stream));
      expect(t.stops).toEqual([...stops]);
      expect(t.heads).toHaveLength(stops.length === 0 ? 2 : 1);
    }
  });

  test("a smaller limit, and a huge chunk without a head end is refused at once", () => {
    const t = framer({ limit: 100 });
    t.f.push(enc(`GET / HTTP/1.1\r\nX: ${"a".repeat(1 << 20)}`));
    expect(t.stops).toEqual([HEAD_TOO_LARGE]);
  });

  test("the trailer section has the head limit too", () => {
    const fits = framer({ limit: 100 });
    const trailers = `X: ${"t".repeat(100 - 7)}\r\n\r\n`;
    expect(trailers.length).toBe(100);
    fits.f.push(enc(`POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n${trailers}`));
    expect(fits.stops).toEqual([]);
    expect(fits.f.idle).toBe(true);
    const over = framer({ limit: 100 });
    over.f.push(enc(`POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: ${"t".repeat(100 - 6)}\r\n\r\n`));
    expect(over.stops).toEqual(["the trailer section is too large"]);
  });
});
