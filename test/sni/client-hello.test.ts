/**
 * The ClientHello reader: real hellos from curl, openssl, Bun and Node (captured at test time),
 * fed whole, split at every byte offset, byte by byte, and re-framed into several records; and
 * synthetic hellos for GREASE, ECH, names that are not DNS names, and broken framing.
 */
import { beforeAll, describe, expect, test } from "bun:test";
import { ClientHelloReader, MAX_HELLO_BYTES, readClientHello, type HelloOutcome } from "../../src/sni/client-hello.ts";
import { captureHello, hello, helloMessage, record, reframe, reframeEvery, serverNameExtension, type Client, type Extension } from "./hellos.ts";

const CLIENTS: readonly Client[] = ["curl", "openssl", "bun", "node"];
const captured = new Map<Client, Uint8Array>();
let curlToIp: Uint8Array;
let opensslWithout: Uint8Array;

beforeAll(async () => {
  await Promise.all(CLIENTS.map(async (c) => captured.set(c, await captureHello(c, `${c}.Example.TEST`))));
  curlToIp = await captureHello("curl", undefined);
  opensslWithout = await captureHello("openssl", undefined);
}, 30_000);

/** Feeds `chunks` in order; the outcome of each push. */
function feed(chunks: readonly Uint8Array[], limit?: number): { outcomes: HelloOutcome[]; reader: ClientHelloReader } {
  const reader = new ClientHelloReader(limit);
  return { outcomes: chunks.map((c) => reader.push(c)), reader };
}

const GREASE_EXT: Extension = [0x2a2a, []];
const sni = (name: string, extra: Partial<{ ech: boolean; length: number }> = {}) => expect.objectContaining({ kind: "sni", name, ...extra });
/** a malformed outcome whose reason is this text, or matches this pattern */
const malformed = (reason: string | RegExp): HelloOutcome => ({ kind: "malformed", reason: typeof reason === "string" ? reason : (expect.stringMatching(reason) as unknown as string) });

describe("real ClientHellos", () => {
  for (const client of CLIENTS) {
    describe(client, () => {
      const bytes = () => captured.get(client)!;

      test("the name, lower-cased; length is the whole hello", () => {
        expect(readClientHello(bytes())).toEqual({ kind: "sni", name: `${client}.example.test`, ech: false, length: bytes().length });
      });

      test("split in two at every byte offset", () => {
        const b = bytes();
        for (let cut = 1; cut < b.length; cut++) {
          const { outcomes } = feed([b.subarray(0, cut), b.subarray(cut)]);
          expect(outcomes[0]!).toEqual({ kind: "need-more" });
          expect(outcomes[1]!).toEqual(sni(`${client}.example.test`));
        }
      });

      test("byte by byte: need-more until the very last byte", () => {
        const b = bytes();
        const { outcomes, reader } = feed([...b].map((x) => new Uint8Array([x])));
        expect(outcomes.slice(0, -1).every((o) => o.kind === "need-more")).toBe(true);
        expect(outcomes.at(-1)!).toEqual(sni(`${client}.example.test`));
        expect(reader.bytes).toEqual(b);
      });

      test("re-framed into three records, and into one-byte records", () => {
        const b = bytes();
        const three = reframe(b, [10, 200]);
        expect(readClientHello(three)).toEqual(sni(`${client}.example.test`, { length: three.length }));
        const tiny = reframeEvery(b, 1);
        expect(readClientHello(tiny)).toEqual(sni(`${client}.example.test`, { length: tiny.length }));
        // and split at every offset of a multi-record hello
        for (let cut = 1; cut < three.length; cut++) {
          const { outcomes } = feed([three.subarray(0, cut), three.subarray(cut)]);
          expect(outcomes[1]!).toEqual(sni(`${client}.example.test`));
        }
      });
    });
  }

  test("curl to an IP and openssl -noservername send no name", () => {
    expect(readClientHello(curlToIp)).toEqual({ kind: "no-sni", ech: false });
    expect(readClientHello(opensslWithout)).toEqual({ kind: "no-sni", ech: false });
  });

  test("bytes after the hello are kept for the replay; the length says where the hello ends", () => {
    const b = captured.get("curl")!;
    const more = new Uint8Array([23, 3, 3, 0, 1, 0]);
    const reader = new ClientHelloReader();
    expect(reader.push(Buffer.concat([b, more]))).toEqual(sni("curl.example.test", { length: b.length }));
    expect(reader.bytes.length).toBe(b.length + more.length);
  });
});

describe("synthetic hellos", () => {
  test("GREASE extensions and unknown ones are skipped, before and after server_name", () => {
    const h = hello({ extensions: [GREASE_EXT, [0x0a0a, [0]], [0x1234, [1, 2, 3]], serverNameExtension("grease.test"), [0xfafa, [0, 0]]], suites: [0x7a, 0x7a, 0x13, 0x01] });
    expect(readClientHello(h)).toEqual(sni("grease.test"));
  });

  test("ECH: the outer name, flagged", () => {
    expect(readClientHello(hello({ extensions: [serverNameExtension("public.example"), [0xfe0d, [0, 1, 2, 3]]] }))).toEqual(sni("public.example", { ech: true }));
    expect(readClientHello(hello({ extensions: [[0xfe0d, [0, 1]]] }))).toEqual({ kind: "no-sni", ech: true });
  });

  test("a trailing dot goes, case folds", () => {
    expect(readClientHello(hello({ extensions: [serverNameExtension("WWW.Example.COM.")] }))).toEqual(sni("www.example.com"));
    expect(readClientHello(hello({ extensions: [serverNameExtension("under_score.example")] }))).toEqual(sni("under_score.example"));
  });

  test("no extensions at all (TLS 1.2 allows it), or none that names a host", () => {
    expect(readClientHello(hello({ extensions: undefined }))).toEqual({ kind: "no-sni", ech: false });
    expect(readClientHello(hello({ extensions: [[0x000a, [0, 2, 0, 29]]] }))).toEqual({ kind: "no-sni", ech: false });
    // a server_name with only an unknown name type
    expect(readClientHello(hello({ extensions: [serverNameExtension([7, "other"])] }))).toEqual({ kind: "no-sni", ech: false });
  });

  test("an unknown name type before the host_name is skipped", () => {
    expect(readClientHello(hello({ extensions: [serverNameExtension([9, "x"], "host.test")] }))).toEqual(sni("host.test"));
  });

  test("IP literals are refused (RFC 6066), in every spelling a URL parser reads as one", () => {
    for (const ip of ["127.0.0.1", "10.1.2.3.", "::1", "[::1]", "0x7f.1", "2130706433", "0177.0.0.1", "fe80::1%eth0"]) {
      expect(readClientHello(hello({ extensions: [serverNameExtension(ip)] }))).toEqual(malformed(/^server_name .* (is an IP literal|is not a DNS name)$/));
    }
    // a name whose last label is a number reads as IPv4 to the URL parser: never a name
    expect(readClientHello(hello({ extensions: [serverNameExtension("a.1")] }))).toEqual(malformed(/^server_name "a\.1" is not a DNS name$/));
  });

  test("names that are not DNS names", () => {
    const bad = ["", ".", "a..b", "-a.test", "a-.test", "a b.test", "a/b.test", "a@b.test", `${"a".repeat(64)}.test`, Array(130).fill("ab").join("."), "café.test", "a\u0000b.test", "*.test"];
    for (const name of bad) {
      const outcome = readClientHello(hello({ extensions: [serverNameExtension(name)] }));
      expect({ name, outcome }).toEqual({ name, outcome: malformed(/^(an empty server_name|server_name .*)$/) });
    }
    // 63-character labels and 253 characters are fine
    const long = [..."abc"].map((c) => c.repeat(63)).join(".") + "." + "d".repeat(61);
    expect(long.length).toBe(253);
    expect(readClientHello(hello({ extensions: [serverNameExtension(long)] }))).toEqual(sni(long));
  });

  test("two host_names, a repeated extension, an empty server_name list", () => {
    expect(readClientHello(hello({ extensions: [serverNameExtension("a.test", "b.test")] }))).toEqual(malformed("two host_name entries in server_name"));
    expect(readClientHello(hello({ extensions: [serverNameExtension("a.test"), serverNameExtension("a.test")] }))).toEqual(malformed("extension 0 appears twice"));
    expect(readClientHello(hello({ extensions: [GREASE_EXT, GREASE_EXT, serverNameExtension("a.test")] }))).toEqual(malformed(`extension ${0x2a2a} appears twice`));
    expect(readClientHello(hello({ extensions: [[0, [0, 0]]] }))).toEqual(malformed("a bad server_name list"));
    expect(readClientHello(hello({ extensions: [[0, [0, 9, 0, 0, 3, 97]]] }))).toEqual(malformed("a bad server_name list"));
    expect(readClientHello(hello({ extensions: [[0, [0, 4, 0, 0, 3, 97]]] }))).toEqual(malformed("a server_name entry runs past its list"));
  });

  test("broken body lengths", () => {
    expect(readClientHello(hello({ sessionId: Array(33).fill(0) }))).toEqual(malformed("a bad session_id"));
    expect(readClientHello(hello({ suites: [] }))).toEqual(malformed("bad cipher_suites"));
    expect(readClientHello(hello({ suites: [1, 2, 3] }))).toEqual(malformed("bad cipher_suites"));
    expect(readClientHello(hello({ compression: [] }))).toEqual(malformed("bad compression_methods"));
    expect(readClientHello(hello({ version: 0x0200 }))).toEqual(malformed("legacy_version 0x200 is not 3.x"));
    expect(readClientHello(hello({ extensions: [serverNameExtension("a.test")], extensionsLength: 3 }))).toEqual(malformed("the extensions do not fill the ClientHello"));
    expect(readClientHello(hello({ extensions: [[0x10, [1, 2]], [0x11, []]], extensionsLength: 6 }))).toEqual(malformed("the extensions do not fill the ClientHello"));
    // an extension whose length runs past the block
    const message = helloMessage({ extensions: [[0x10, [1, 2]]] });
    message[message.length - 3] = 9;
    expect(readClientHello(record(message))).toEqual(malformed("an extension runs past the end of the ClientHello"));
    // a hello shorter than its version and random
    expect(readClientHello(record([1, 0, 0, 3, 3, 3, 0]))).toEqual(malformed("the ClientHello ends inside its version or random"));
  });
});

describe("not TLS, broken framing, limits", () => {
  test("plain HTTP, SSLv2, other bytes: not-tls from the first byte it can tell", () => {
    expect(readClientHello(new TextEncoder().encode("GET / HTTP/1.1\r\nHost: a\r\n\r\n"))).toEqual({ kind: "not-tls" });
    expect(readClientHello(new Uint8Array([0x47]))).toEqual({ kind: "not-tls" });
    expect(readClientHello(new Uint8Array([0x80, 0x2e, 0x01, 0x03, 0x01]))).toEqual({ kind: "not-tls" });
    // type 22 but not a TLS version
    expect(readClientHello(new Uint8Array([22, 0x47]))).toEqual({ kind: "not-tls" });
    // an alert record first
    expect(readClientHello(new Uint8Array([21, 3, 3, 0, 2, 2, 40]))).toEqual({ kind: "not-tls" });
    // a lone 22 is not enough to tell
    expect(readClientHello(new Uint8Array([22]))).toEqual({ kind: "need-more" });
  });

  test("a handshake that is not a ClientHello, empty and oversized records, a foreign record in between", () => {
    expect(readClientHello(record([2, 0, 0, 1, 0]))).toEqual(malformed("handshake message type 2, not a ClientHello"));
    expect(readClientHello(new Uint8Array([22, 3, 1, 0, 0]))).toEqual(malformed("an empty handshake record"));
    expect(readClientHello(new Uint8Array([22, 3, 1, 0x40, 0x01]))).toEqual(malformed("a record of 16385 bytes, over 2^14"));
    const h = hello({ extensions: [serverNameExtension("a.test")] });
    const split = reframe(h, [20]);
    const firstRecord = split.subarray(0, 25);
    expect(readClientHello(Buffer.concat([firstRecord, new Uint8Array([23, 3, 3, 0, 1, 0])]))).toEqual(malformed("a record other than handshake inside the ClientHello"));
    expect(readClientHello(Buffer.concat([firstRecord, new Uint8Array([22, 4, 3, 0, 1, 0])]))).toEqual(malformed("a record version other than 3.x"));
  });

  test("a hello over the limit is refused from its header, before its bytes arrive", () => {
    expect(readClientHello(new Uint8Array([22, 3, 1, 0, 4, 1, 0, 0x40, 0x01]))).toEqual({ kind: "too-large" });
    expect(MAX_HELLO_BYTES).toBe(16 * 1024);
    const big = hello({ extensions: [serverNameExtension("a.test"), [0x15, Array(2000).fill(0)]] });
    expect(readClientHello(big, 1000)).toEqual({ kind: "too-large" });
    expect(readClientHello(big, 4000)).toEqual(sni("a.test"));
  });

  test("a hello spread so thin that buffering it would pass the cap", () => {
    const h = hello({ extensions: [serverNameExtension("a.test"), [0x15, Array(400).fill(0)]] });
    // ~480 handshake bytes in 1-byte records: ~2900 bytes buffered, over 2 × 1000
    const { outcomes } = feed([reframeEvery(h, 1)], 1000);
    expect(outcomes[0]!).toEqual({ kind: "too-large" });
    expect(readClientHello(reframeEvery(h, 1), 2000)).toEqual(sni("a.test"));
  });

  test("a final outcome sticks; the reader keeps copies of what it was given", () => {
    const h = hello({ extensions: [serverNameExtension("a.test")] });
    const chunk = h.slice(0, 10);
    const reader = new ClientHelloReader();
    reader.push(chunk);
    chunk.fill(0);
    expect(reader.bytes).toEqual(h.subarray(0, 10));
    expect(reader.push(h.subarray(10))).toEqual(sni("a.test"));
    expect(reader.result).toEqual(sni("a.test"));
    expect(reader.push(new Uint8Array([1, 2, 3]))).toEqual(sni("a.test"));
    expect(reader.bytes.length).toBe(h.length);
  });
});
