/** The one numeric-host parser, spelling by spelling, against the URL parser that fetch uses. */
import { describe, expect, test } from "bun:test";
import { IpSet } from "../../src/net/ip.ts";
import { parseNumericHost } from "../../src/net/numeric-host.ts";

/** What the URL parser makes of a host: its hostname, or undefined when it refuses the URL. */
const urlHostname = (host: string): string | undefined => URL.parse(`http://${host}/`)?.hostname;

/** A URL needs an IPv6 host in brackets; bare ones are ours only (resolver answers, CONNECT targets). */
const bracketed = (host: string): string => (host.includes(":") && !host.startsWith("[") ? `[${host}]` : host);

/** Every numeric spelling, with the address it reads as. */
const ADDRESSES: [host: string, family: 4 | 6, address: string][] = [
  ["127.0.0.1", 4, "127.0.0.1"],
  ["2130706433", 4, "127.0.0.1"], // one decimal part holds all four bytes
  ["017700000001", 4, "127.0.0.1"], // ... or one octal part
  ["0x7f000001", 4, "127.0.0.1"], // ... or one hex part
  ["0x7F000001", 4, "127.0.0.1"],
  ["0177.0.0.1", 4, "127.0.0.1"], // octal: 177.0.0.1 to Bun.dns.lookup
  ["0177.0.0.01", 4, "127.0.0.1"],
  ["00000000000000000000177.1", 4, "127.0.0.1"],
  ["0x7f.0.0.1", 4, "127.0.0.1"],
  ["0X7F.1", 4, "127.0.0.1"],
  ["0x7f.1", 4, "127.0.0.1"], // the last part fills the three bytes left
  ["127.1", 4, "127.0.0.1"],
  ["127.0.1", 4, "127.0.0.1"], // ... or the two left
  ["0x7f.0.0x0.01", 4, "127.0.0.1"], // mixed radixes
  ["0177.0x0.1", 4, "127.0.0.1"],
  ["127.0.0.1.", 4, "127.0.0.1"], // a trailing dot is a fully qualified name's, not a part
  ["127.1.", 4, "127.0.0.1"],
  ["1.65536", 4, "1.1.0.0"],
  ["1.16777215", 4, "1.255.255.255"],
  ["1.2.65535", 4, "1.2.255.255"],
  ["4294967295", 4, "255.255.255.255"],
  ["0", 4, "0.0.0.0"],
  ["00", 4, "0.0.0.0"],
  ["0x", 4, "0.0.0.0"], // `0x` with no digits is 0
  ["1.0x", 4, "1.0.0.0"],
  ["::1", 6, "::1"],
  ["[::1]", 6, "::1"],
  ["[0:0:0:0:0:0:0:1]", 6, "::1"],
  ["[::]", 6, "::"],
  ["::ffff:127.0.0.1", 6, "::ffff:7f00:1"], // IPv4-mapped stays IPv6, as the URL parser keeps it
  ["[::ffff:127.0.0.1]", 6, "::ffff:7f00:1"],
  ["::ffff:7f00:1", 6, "::ffff:7f00:1"],
  ["[::FFFF:7F00:0001]", 6, "::ffff:7f00:1"],
  ["[::127.0.0.1]", 6, "::7f00:1"],
  ["64:ff9b::127.0.0.1", 6, "64:ff9b::7f00:1"],
  ["[2001:DB8:0:0:1:0:0:1]", 6, "2001:db8::1:0:0:1"], // the first of two equally long zero runs
  ["[1:0:0:2::3:0]", 6, "1::2:0:0:3:0"],
  ["[0:0:1::]", 6, "0:0:1::"], // the longest run, not the first
  ["[1:0:2:3:4:5:6:7]", 6, "1:0:2:3:4:5:6:7"], // one zero group is not a run
  ["[2001:db8:1:2:3:4:5:6]", 6, "2001:db8:1:2:3:4:5:6"],
];

/** Spellings that look numeric but are out of range, or malformed literals: the URL parser refuses them too. */
const OUT_OF_RANGE = [
  "256.1.1.1",
  "1.256.1.1",
  "1.1.256.1", // only the last part may exceed a byte...
  "1.1.1.256", // ...and only by as many bytes as are left
  "1.1.65536",
  "1.16777216",
  "4294967296",
  "0x100000000",
  "99999999999999999999999",
  "1.2.3.4.5",
  "127.0.0.1.0x",
  ".127.0.0.1",
  "127..1",
  "08.1", // a leading 0 means octal, and 8 is no octal digit
  "1.2.3.09",
  "0x7g.1",
  "a.1", // a host whose last label is a number is IPv4 to the URL parser, or nothing
  "example.1.",
  "localhost.0x1",
  "[1.2.3.4]",
  "[::1",
  "[]",
  "[1::2::3]",
  "[12345::]",
  "[1:2:3:4:5:6:7:8:9]",
  "[::ffff:127.0.0.01]", // an IPv4 tail in IPv6 is plain decimal
  "[fe80::1%25eth0]", // zones are not for URLs
];

/** Hosts the URL parser reads as something other than what is written: decoded, mapped, stripped or split. */
const REWRITTEN = [
  "127%2e0%2e0%2e1",
  "%30x7f.1",
  "１２７.０.０.１", // full-width digits and dots
  "127。0。0。1", // ideographic full stops
  "127.0.0.\n1",
  "127.0.0.1\t",
  "127.0.0.1#x",
  "127.0.0.1/x",
  "127.0.0.1\\x",
  "127.0.0.1?x",
  "a@127.0.0.1",
  "ex%61mple.com",
  "bücher.example",
];

/** Hosts no reader takes for a number; the URL parser only lowercases them. */
const NAMES = [
  "example.com",
  "EXAMPLE.com",
  "localhost",
  "a_b.example",
  "xn--bcher-kva.example",
  "example.com.",
  "0xg", // not hex, so not a number
  "a.0xg",
  "1e2",
  "0b1",
  "1.2.3.example",
  "127.0.0.1.example",
  "0x7f.example",
  "127.0.0.1..", // two trailing dots leave an empty last label, which is no number
  "a..b",
  ".",
];

describe("parseNumericHost: addresses", () => {
  test.each(ADDRESSES)("%p reads as IPv%p %p", (host, family, address) => {
    expect(parseNumericHost(host)).toMatchObject({ kind: "ip", family, address });
  });

  test.each(ADDRESSES)("%p: the URL parser reads IPv%p %p too", (host, family, address) => {
    expect(urlHostname(bracketed(host))).toBe(family === 6 ? `[${address}]` : address);
  });

  test.each<[string, number[]]>([
    ["0x7f.1", [0x7f000001, 0, 0, 0]],
    ["4294967295", [0xffffffff, 0, 0, 0]],
    ["[::ffff:127.0.0.1]", [0, 0, 0xffff, 0x7f000001]],
    ["2001:db8::1", [0x20010db8, 0, 0, 1]],
  ])("%p has the words %p", (host, words) => {
    const read = parseNumericHost(host);
    expect(read.kind === "ip" && [...read.words]).toEqual(words);
  });

  test("the words are what an IpSet matches; IPv4-mapped IPv6 is not unmapped for it", () => {
    const loopback = new IpSet();
    loopback.add("127.0.0.0/8");
    const inLoopback = (host: string) => {
      const read = parseNumericHost(host);
      return read.kind === "ip" && loopback.has(read.family, read.words);
    };
    expect(["2130706433", "0177.1", "0x7f.0.0.2", "::ffff:127.0.0.1"].map(inLoopback)).toEqual([true, true, true, false]);
  });

  test("each result has words of its own", () => {
    const first = parseNumericHost("127.0.0.1");
    parseNumericHost("10.0.0.1");
    expect(first.kind === "ip" && first.words[0]).toBe(0x7f000001);
  });
});

describe("parseNumericHost: invalid", () => {
  test.each(OUT_OF_RANGE)("%p is invalid", (host) => {
    expect(parseNumericHost(host)).toEqual({ kind: "invalid" });
  });

  test.each(OUT_OF_RANGE)("%p: the URL parser refuses it too", (host) => {
    expect(urlHostname(host)).toBeUndefined();
  });

  test.each(REWRITTEN)("%p is invalid", (host) => {
    expect(parseNumericHost(host)).toEqual({ kind: "invalid" });
  });

  test.each(REWRITTEN)("%p: the URL parser reads something other than what is written", (host) => {
    expect(urlHostname(host)).not.toBe(host);
  });

  test.each(["127.0.0.1:80", "[::1]:443", "example.com:80"])("%p is invalid: a host comes without its port", (host) => {
    expect(parseNumericHost(host)).toEqual({ kind: "invalid" });
  });

  test("an empty host is invalid", () => {
    expect(parseNumericHost("")).toEqual({ kind: "invalid" });
  });
});

describe("parseNumericHost: names", () => {
  test.each(NAMES)("%p is a name", (host) => {
    expect(parseNumericHost(host)).toEqual({ kind: "name" });
  });

  test.each(NAMES)("%p: the URL parser keeps it a name", (host) => {
    expect(urlHostname(host)).toBe(host.toLowerCase());
  });
});
