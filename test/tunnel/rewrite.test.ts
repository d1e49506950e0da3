import { describe, expect, test } from "bun:test";
import { parseHead, type RequestHead } from "../../src/tunnel/head.ts";
import { rewriteHead } from "../../src/tunnel/rewrite.ts";

function head(text: string): { head: RequestHead; raw: Uint8Array } {
  const raw = Buffer.from(text, "latin1");
  const result = parseHead(raw);
  if (result.kind !== "head") throw new Error(`not a head: ${result.kind}`);
  return { head: result.head, raw };
}

const rewritten = (text: string) => {
  const { head: h, raw } = head(text);
  const out = rewriteHead(h, raw);
  return out instanceof Uint8Array ? Buffer.from(out).toString("latin1") : out;
};

describe("rewriteHead", () => {
  test("absolute form becomes origin form, and the target's authority replaces every Host", () => {
    expect(rewritten("GET http://a.example:8080/p/a?q=1 HTTP/1.1\r\nHost: other.example\r\nAccept: */*\r\nhost: third\r\n\r\n")).toBe(
      "GET /p/a?q=1 HTTP/1.1\r\nHost: a.example:8080\r\nAccept: */*\r\n\r\n",
    );
  });

  test("an absolute target without a path asks for /, a bare query keeps its ?", () => {
    expect(rewritten("GET http://a.example HTTP/1.1\r\n\r\n")).toBe("GET / HTTP/1.1\r\nHost: a.example\r\n\r\n");
    expect(rewritten("GET http://a.example?x=1 HTTP/1.1\r\n\r\n")).toBe("GET /?x=1 HTTP/1.1\r\nHost: a.example\r\n\r\n");
  });

  test("an https:// target is marked for the engine; the scheme is case-insensitive", () => {
    expect(rewritten("GET HTTPS://a.example/x HTTP/1.1\r\n\r\n")).toBe("GET /x HTTP/1.1\r\nHost: a.example\r\nx-sallyport-relayed-scheme: https\r\n\r\n");
  });

  test("a client cannot forge the engine's scheme mark, in either form", () => {
    expect(rewritten("GET http://a.example/x HTTP/1.1\r\nX-Sallyport-Relayed-Scheme: https\r\n\r\n")).toBe("GET /x HTTP/1.1\r\nHost: a.example\r\n\r\n");
    expect(rewritten("GET /x HTTP/1.1\r\nHost: a.example\r\nx-sallyport-relayed-scheme: https\r\n\r\n")).toBe("GET /x HTTP/1.1\r\nHost: a.example\r\n\r\n");
  });

  test("an origin-form head without anything to drop goes as it came (the same bytes)", () => {
    const { head: h, raw } = head("GET /x HTTP/1.1\r\nHost: a.example\r\n\r\n");
    expect(rewriteHead(h, raw)).toBe(raw);
  });

  test("Proxy-Connection goes, Proxy-Authorization stays for the engine to check", () => {
    expect(rewritten("GET http://a.example/ HTTP/1.1\r\nProxy-Connection: keep-alive\r\nProxy-Authorization: Basic eA==\r\n\r\n")).toBe(
      "GET / HTTP/1.1\r\nHost: a.example\r\nProxy-Authorization: Basic eA==\r\n\r\n",
    );
  });

  test("obs-text in a value goes out byte for byte", () => {
    expect(rewritten("GET http://a.example/ HTTP/1.1\r\nX-Name: caf\xe9\r\n\r\n")).toBe("GET / HTTP/1.1\r\nHost: a.example\r\nX-Name: caf\xe9\r\n\r\n");
  });

  test("Content-Length goes when Transfer-Encoding frames the body (RFC 9112 §6.3)", () => {
    expect(rewritten("POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n")).toBe("POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n");
  });

  test.each([
    ["GET http://a.example/ HTTP/1.1\r\nUpgrade: websocket\r\nConnection: upgrade", "upgrades are not relayed"],
    ["GET ftp://a.example/ HTTP/1.1", "is not http or https"],
    ["GET http://user@a.example/ HTTP/1.1", "no userinfo"],
    ["GET http:///x HTTP/1.1", "no valid authority"],
    ["GET http://:8080/x HTTP/1.1", "no valid authority"],
    ["GET http://a.example:0/x HTTP/1.1", "no valid authority"],
    ["GET http://a.example:65536/x HTTP/1.1", "no valid authority"],
    ["GET http://127.0.0.%31/x HTTP/1.1", "no valid authority"],
    ["GET http://a.example/x#frag HTTP/1.1", "fragment"],
    ["CONNECT a.example:443 HTTP/1.1", "CONNECT"],
  ])("%s cannot be relayed", (line, reason) => {
    const out = rewritten(`${line}\r\n\r\n`);
    expect(typeof out).toBe("object");
    expect((out as { stop: string }).stop).toContain(reason);
  });
});
