import { describe, expect, test } from "bun:test";
import { IpSet, parseHostIp, parseIp } from "../../src/net/ip.ts";

const parse = (s: string) => {
  const out = new Uint32Array(4);
  const family = parseIp(s, 0, s.length, out);
  return family === 0 ? 0 : { family, words: family === 4 ? [out[0]] : [...out] };
};

describe("parseIp", () => {
  test.each<[string, ReturnType<typeof parse>]>([
    ["1.2.3.4", { family: 4, words: [0x01020304] }],
    ["255.255.255.255", { family: 4, words: [0xffffffff] }],
    ["0.0.0.0", { family: 4, words: [0] }],
    ["::1", { family: 6, words: [0, 0, 0, 1] }],
    ["::", { family: 6, words: [0, 0, 0, 0] }],
    ["2001:db8::", { family: 6, words: [0x20010db8, 0, 0, 0] }],
    ["2001:DB8:0:0:0:0:0:1", { family: 6, words: [0x20010db8, 0, 0, 1] }],
    ["fe80::1:2", { family: 6, words: [0xfe800000, 0, 0, 0x00010002] }],
    ["::ffff:1.2.3.4", { family: 4, words: [0x01020304] }],
    ["::ffff:0102:0304", { family: 4, words: [0x01020304] }],
    ["64:ff9b::1.2.3.4", { family: 6, words: [0x0064ff9b, 0, 0, 0x01020304] }],
    ["", 0],
    ["1.2.3", 0],
    ["1.2.3.4.5", 0],
    ["1.2.3.256", 0],
    ["01.2.3.4", 0],
    ["1.2.3.4 ", 0],
    ["a.b.c.d", 0],
    [":::", 0],
    ["1::2::3", 0],
    ["1:2:3:4:5:6:7:8:9", 0],
    ["1:2:3:4:5:6:7:8::", 0],
    ["12345::", 0],
    ["1:", 0],
    ["fe80::1%eth0", 0],
    ["localhost", 0],
  ])("%p", (input, expected) => {
    expect(parse(input)).toEqual(expected);
  });

  test("parses a slice of a longer string", () => {
    const out = new Uint32Array(4);
    const s = "x1.2.3.4y";
    expect([parseIp(s, 1, 8, out), out[0]]).toEqual([4, 0x01020304]);
  });
});

describe("parseHostIp", () => {
  test.each<[string, 0 | 4 | 6]>([
    ["1.2.3.4:80", 4],
    [" 1.2.3.4 ", 4],
    ["[::1]:443", 6],
    ["[::1]", 6],
    ["::1", 6],
    ["[::1", 0],
    ["host:80", 0],
  ])("%p → family %p", (input, family) => {
    expect(parseHostIp(input, 0, input.length, new Uint32Array(4))).toBe(family);
  });
});

describe("IpSet", () => {
  const set = new IpSet();
  for (const n of ["10.0.0.0/8", "192.168.1.7", "2001:db8::/32", "::1", "::ffff:172.16.0.0/108", "100.64.1.1/10"]) set.add(n);
  const has = (s: string) => {
    const out = new Uint32Array(4);
    return set.has(parseIp(s, 0, s.length, out), out);
  };

  test.each<[string, boolean]>([
    ["10.255.0.1", true],
    ["11.0.0.1", false],
    ["192.168.1.7", true],
    ["192.168.1.8", false],
    ["2001:db8:ffff::1", true],
    ["2001:db9::1", false],
    ["::1", true],
    ["::2", false],
    ["172.31.255.255", true], // ::ffff:172.16.0.0/108 is 172.16.0.0/12
    ["172.32.0.0", false],
    ["100.127.0.1", true], // host bits in the prefix are masked off
    ["::ffff:10.1.1.1", true],
    ["junk", false],
  ])("%p → %p", (ip, expected) => {
    expect(has(ip)).toBe(expected);
  });

  test("indexOf names the first network that holds the address, searching on from `from`", () => {
    const nested = new IpSet();
    for (const n of ["2001:db8::/32", "10.0.0.1", "10.0.0.0/8", "0.0.0.0/0"]) nested.add(n);
    const out = new Uint32Array(4);
    const family = parseIp("10.0.0.1", 0, 8, out);
    const found = [0, 1, 2, 3, 4].map((from) => nested.indexOf(family, out, from));
    expect(found).toEqual([1, 1, 2, 3, -1]);
    expect(nested.indexOf(parseIp("8.8.8.8", 0, 7, out), out)).toBe(3);
    expect(nested.indexOf(parseIp("2001:db8::1", 0, 11, out), out)).toBe(0);
    expect(nested.indexOf(0, out)).toBe(-1);
  });

  test("/0 holds its whole family only", () => {
    const all4 = new IpSet();
    all4.add("0.0.0.0/0");
    const out = new Uint32Array(4);
    expect([all4.has(parseIp("8.8.8.8", 0, 7, out), out), all4.has(parseIp("::2", 0, 3, out), out)]).toEqual([true, false]);
  });

  test.each([
    ["::", '"::" is the unspecified address'],
    ["1.2.3.4/", '"" is not a prefix length'],
    ["1.2.3.4/08", '"08" is not a prefix length'],
    ["::1/129", "prefix length 129 is out of range"],
    ["1.2.3.4/-1", '"-1" is not a prefix length'],
  ])("refuses %p", (input, message) => {
    expect(() => new IpSet().add(input)).toThrow(message);
  });
});
