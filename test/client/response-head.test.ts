/** Response heads and chunked bodies, parsed strictly from bytes however they are split. */
import { describe, expect, test } from "bun:test";
import { ChunkedDecoder } from "../../src/client/chunked.ts";
import { headEnd, parseResponseHead } from "../../src/client/response-head.ts";

const bytes = (text: string) => new TextEncoder().encode(text);
const parse = (text: string, method = "GET") => {
  const b = bytes(text);
  return parseResponseHead(b, headEnd(b), method);
};
const codeOf = (fn: () => unknown) => {
  try {
    fn();
    return "no error";
  } catch (e) {
    return (e as { code?: string }).code;
  }
};

describe("the head", () => {
  test("hop-by-hop fields and those Connection names decide the framing and keep-alive, and are left out of the headers", () => {
    const head = parse("HTTP/1.1 200 OK\r\nX-Private: 1\r\nConnection: keep-alive, X-Private\r\nKeep-Alive: timeout=5\r\nTransfer-Encoding: chunked\r\nTrailer: X-T\r\nUpgrade: h2c\r\nProxy-Authenticate: Basic\r\nX-Kept: yes\r\n\r\n");
    expect(head.framing).toEqual({ kind: "chunked" });
    expect(head.keepAlive).toBe(true);
    expect([...head.headers]).toEqual([["x-kept", "yes"]]);
    expect(parse("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n").keepAlive).toBe(false);
  });

  test("status, headers in order (repeated ones kept), framing and keep-alive", () => {
    const head = parse("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\nX-Odd:  spaced value \r\n\r\nhello");
    expect(head.status).toBe(200);
    expect(head.framing).toEqual({ kind: "length", length: 5 });
    expect(head.keepAlive).toBe(true);
    expect(head.headers.getSetCookie()).toEqual(["a=1", "b=2"]);
    expect(head.headers.get("x-odd")).toBe("spaced value");
    expect(head.length).toBe(bytes("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\nX-Odd:  spaced value \r\n\r\n").length);
  });

  test("headEnd finds the blank line wherever a read split it, and not before it arrived", () => {
    const text = bytes("HTTP/1.1 204 No Content\r\nA: b\r\n\r\n");
    for (let cut = 0; cut < text.length; cut++) expect(headEnd(text.subarray(0, cut))).toBe(-1);
    expect(headEnd(text)).toBe(text.length);
    expect(headEnd(text, text.length - 3)).toBe(text.length);
  });

  test("framing: none for HEAD, 204, 304; chunked wins over a length; no length runs to the close", () => {
    expect(parse("HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n", "HEAD").framing).toEqual({ kind: "none" });
    expect(parse("HTTP/1.1 204 No Content\r\n\r\n").framing).toEqual({ kind: "none" });
    expect(parse("HTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\n").framing).toEqual({ kind: "none" });
    expect(parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\nContent-Length: 3\r\n\r\n").framing).toEqual({ kind: "chunked" });
    const open = parse("HTTP/1.1 200 OK\r\n\r\n");
    expect([open.framing, open.keepAlive]).toEqual([{ kind: "close" }, false]);
    expect(parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n").framing).toEqual({ kind: "close" });
    expect(parse("HTTP/1.1 200 OK\r\nContent-Length: 4, 4\r\n\r\n").framing).toEqual({ kind: "length", length: 4 });
  });

  test("Connection: close, and HTTP/1.0 without keep-alive, end the connection", () => {
    expect(parse("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n").keepAlive).toBe(false);
    expect(parse("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n").keepAlive).toBe(false);
    expect(parse("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n").keepAlive).toBe(true);
  });

  test.each([
    ["HTTP/2 200 OK\r\n\r\n", "InvalidHTTPResponse"],
    ["HTTP/1.1 20 OK\r\n\r\n", "InvalidHTTPResponse"],
    ["HTTP/1.1 099 Low\r\n\r\n", "InvalidHTTPResponse"],
    ["HTTP/1.1 000 Zero\r\n\r\n", "InvalidHTTPResponse"],
    ["HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n", "InvalidHTTPResponse"],
    ["HTTP/1.1 200 OK\r\nA: b\r\n folded\r\n\r\n", "InvalidHTTPResponse"],
    ["HTTP/1.1 200 OK\r\n: empty name\r\n\r\n", "InvalidHTTPResponse"],
    ["HTTP/1.1 200 OK\r\nA: b\x00c\r\n\r\n", "InvalidHTTPResponse"],
    ["HTTP/1.1 200 OK\r\nContent-Length: abc\r\n\r\n", "InvalidContentLength"],
    ["HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n", "InvalidContentLength"],
    ["HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", "InvalidContentLength"],
  ])("%j is refused: %s", (text, code) => {
    expect(codeOf(() => parse(text))).toBe(code);
  });
});

describe("chunked bodies", () => {
  const body = "4;ext=1\r\nWiki\r\n5\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\nTrailer: x\r\n\r\nNEXT";

  test("decoded whole, split at every offset, and byte by byte; the bytes after it are left", () => {
    const all = bytes(body);
    const decode = (pieces: Uint8Array[]) => {
      const decoder = new ChunkedDecoder();
      let out = "";
      let used = 0;
      for (const piece of pieces) used += decoder.push(piece, (data) => (out += new TextDecoder().decode(data)));
      return { out, used, done: decoder.done };
    };
    const want = { out: "Wikipedia in\r\n\r\nchunks.", used: all.length - 4, done: true };
    expect(decode([all])).toEqual(want);
    for (let cut = 1; cut < all.length; cut++) expect(decode([all.subarray(0, cut), all.subarray(cut)])).toEqual(want);
    expect(decode([...all].map((b) => Uint8Array.of(b)))).toEqual(want);
  });

  test.each([
    ["zz\r\n", "a chunk size that is not hex"],
    ["3\r\nabcd\r\n", "chunk data longer than its size"],
    ["3\nabc\r\n", "a bare LF"],
    ["1234567890abc\r\n", "a chunk size that is not hex"],
  ])("%j is refused", (text, why) => {
    expect(() => new ChunkedDecoder().push(bytes(text), () => {})).toThrow(why);
  });
});
