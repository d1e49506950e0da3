/** Every special-purpose range with an address inside and one just outside, and every IPv4-carrying IPv6 form. */
import { describe, expect, test } from "bun:test";
import { IPV4_SPECIAL, IPV6_SPECIAL, classify, classifyWords, type SpecialRange } from "../../src/egress/ranges.ts";
import { parseNumericHost } from "../../src/net/numeric-host.ts";

type Row = [address: string, range: SpecialRange | undefined];

describe("IPv4 ranges: inside, and the neighbour just outside", () => {
  test.each<Row>([
    ["0.0.0.0", "this-network"],
    ["0.255.255.255", "this-network"],
    ["1.0.0.0", undefined],
    ["10.0.0.0", "private"],
    ["10.255.255.255", "private"],
    ["9.255.255.255", undefined],
    ["11.0.0.0", undefined],
    ["172.16.0.0", "private"],
    ["172.31.255.255", "private"],
    ["172.15.255.255", undefined],
    ["172.32.0.0", undefined],
    ["192.168.0.0", "private"],
    ["192.168.255.255", "private"],
    ["192.167.255.255", undefined],
    ["192.169.0.0", undefined],
    ["100.64.0.0", "cgnat"],
    ["100.127.255.255", "cgnat"],
    ["100.63.255.255", undefined],
    ["100.128.0.0", undefined],
    ["127.0.0.1", "loopback"],
    ["127.255.255.255", "loopback"],
    ["126.255.255.255", undefined],
    ["128.0.0.0", undefined],
    ["169.254.169.254", "cloud-metadata"],
    ["169.254.169.253", "link-local"],
    ["169.254.0.0", "link-local"],
    ["169.254.255.255", "link-local"],
    ["169.253.255.255", undefined],
    ["169.255.0.0", undefined],
    ["192.0.0.0", "ietf-protocol"],
    ["192.0.0.255", "ietf-protocol"],
    ["191.255.255.255", undefined],
    ["192.0.1.0", undefined],
    ["192.31.196.0", "as112"],
    ["192.31.196.255", "as112"],
    ["192.31.195.255", undefined],
    ["192.31.197.0", undefined],
    ["192.52.193.0", "amt"],
    ["192.52.193.255", "amt"],
    ["192.52.192.255", undefined],
    ["192.52.194.0", undefined],
    ["192.175.48.0", "as112"],
    ["192.175.48.255", "as112"],
    ["192.175.47.255", undefined],
    ["192.175.49.0", undefined],
    ["192.0.2.1", "documentation"],
    ["192.0.3.0", undefined],
    ["198.51.100.255", "documentation"],
    ["198.51.101.0", undefined],
    ["203.0.113.0", "documentation"],
    ["203.0.112.255", undefined],
    ["198.18.0.0", "benchmarking"],
    ["198.19.255.255", "benchmarking"],
    ["198.17.255.255", undefined],
    ["198.20.0.0", undefined],
    ["224.0.0.0", "multicast"],
    ["239.255.255.255", "multicast"],
    ["223.255.255.255", undefined],
    ["240.0.0.0", "reserved"],
    ["255.255.255.254", "reserved"],
    ["255.255.255.255", "broadcast"],
    ["192.88.99.1", "6to4-relay"],
    ["192.88.98.255", undefined],
    ["192.88.100.0", undefined],
    ["8.8.8.8", undefined],
    ["1.1.1.1", undefined],
  ])("%p → %p", (address, range) => {
    expect(classify(address)).toBe(range);
  });
});

describe("IPv6 ranges: inside, and the neighbour just outside", () => {
  test.each<Row>([
    ["::", "unspecified"],
    ["::1", "loopback"],
    ["::2", "this-network"], // IPv4-compatible ::0.0.0.2, classified by its IPv4
    ["100::", "discard-only"],
    ["100::ffff:ffff:ffff:ffff", "discard-only"],
    ["100:0:0:1::", "reserved"], // past the /64, still outside 2000::/3
    ["2001::", "broadcast"], // Teredo client ~0 = 255.255.255.255
    ["2001:0:ffff:ffff:ffff:ffff:ffff:ffff", "this-network"], // Teredo client ~0xffffffff = 0.0.0.0
    ["2001:0:ffff::f7f7:f7f7", "teredo"], // client 8.8.8.8
    // The rest of the IETF protocol assignments 2001::/23 is refused as such, all of it.
    ["2001:1::", "ietf-protocol"],
    ["2001:1::1", "ietf-protocol"], // PCP anycast
    ["2001:1::2", "ietf-protocol"], // TURN anycast
    ["2001:1::3", "ietf-protocol"], // DNS-SD SRP anycast
    ["2001:2::1", "benchmarking"],
    ["2001:2:0:ffff::", "benchmarking"],
    ["2001:2:1::", "ietf-protocol"],
    ["2001:3::", "amt"],
    ["2001:3:ffff:ffff::", "amt"],
    ["2001:4::", "ietf-protocol"],
    ["2001:4:112::1", "as112"],
    ["2001:4:112:ffff::", "as112"],
    ["2001:4:111:ffff::", "ietf-protocol"],
    ["2001:4:113::", "ietf-protocol"],
    ["2001:10::1", "orchid"],
    ["2001:1f:ffff::", "orchid"],
    ["2001:f::", "ietf-protocol"],
    ["2001:20::1", "orchid"],
    ["2001:2f:ffff::", "orchid"],
    ["2001:30::", "ietf-protocol"], // Drone Remote ID
    ["2001:3f:ffff::", "ietf-protocol"],
    ["2001:1ff:ffff:ffff:ffff:ffff:ffff:ffff", "ietf-protocol"],
    ["2001:200::", undefined],
    ["2620:4f:8000::", "as112"],
    ["2620:4f:8000:ffff:ffff:ffff:ffff:ffff", "as112"],
    ["2620:4f:7fff:ffff:ffff:ffff:ffff:ffff", undefined],
    ["2620:4f:8001::", undefined],
    ["2001:db8::1", "documentation"],
    ["2001:db8:ffff::", "documentation"],
    ["2001:db9::", undefined],
    ["3fff::1", "documentation"],
    ["3fff:fff::", "documentation"],
    ["3fff:1000::", undefined],
    ["2002::", "this-network"], // 6to4 of 0.0.0.0
    ["2001:ffff::", undefined],
    ["2003::", undefined],
    ["fd00:ec2::254", "cloud-metadata"],
    ["fd00:ec2::253", "unique-local"],
    ["fc00::", "unique-local"],
    ["fdff:ffff::", "unique-local"],
    ["fbff:ffff::", "reserved"],
    ["fe80::1", "link-local"],
    ["febf:ffff::", "link-local"],
    ["fe7f:ffff::", "reserved"],
    ["fec0::1", "site-local"],
    ["feff:ffff::", "site-local"],
    ["ff00::", "multicast"],
    ["ff02::2", "multicast"],
    ["1fff:ffff::", "reserved"],
    ["4000::", "reserved"],
    ["2000::", undefined],
    ["3ffe:ffff::", undefined],
  ])("%p → %p", (address, range) => {
    expect(classify(address)).toBe(range);
  });
});

describe("IPv6 forms that carry an IPv4 address are classified by it", () => {
  test.each<Row>([
    ["::ffff:127.0.0.1", "loopback"], // IPv4-mapped
    ["::ffff:7f00:1", "loopback"],
    ["::ffff:169.254.169.254", "cloud-metadata"],
    ["::ffff:8.8.8.8", undefined], // mapped is just IPv4: a public one passes
    ["::127.0.0.1", "loopback"], // IPv4-compatible
    ["::10.0.0.1", "private"],
    ["::8.8.8.8", "ipv4-compatible"], // deprecated: refused whatever it carries
    ["64:ff9b::127.0.0.1", "loopback"], // NAT64 well-known prefix
    ["64:ff9b::a9fe:a9fe", "cloud-metadata"],
    ["64:ff9b::8.8.8.8", "nat64"],
    ["64:ff9b::255.255.255.255", "broadcast"],
    ["64:ff9b::", "this-network"],
    ["64:ff9b:1::127.0.0.1", "loopback"], // local-use prefix, /96 layout
    ["64:ff9b:1::8.8.8.8", "nat64"],
    ["2002:7f00:1::", "loopback"], // 6to4
    ["2002:a00:1::1", "private"],
    ["2002:808:808::", "6to4"],
    ["2001:0:4136:e378:8000:63bf:80ff:fffe", "loopback"], // Teredo client ~0x80fffffe = 127.0.0.1
    ["2001:0:4136:e378:8000:63bf:f5ff:fffe", "private"], // Teredo client ~0xf5fffffe = 10.0.0.1
    ["2001:0:4136:e378:8000:63bf:f7f7:f7f7", "teredo"], // Teredo client 8.8.8.8: refused as Teredo
  ])("%p → %p", (address, range) => {
    expect(classify(address)).toBe(range);
  });

  test.each([
    "2001:4860:4860::8888", // Google DNS
    "2606:4700:4700::1111", // Cloudflare DNS
    "2003::7f00:1", // next to 6to4, with a loopback-looking tail
    "2001:200::7f00:1", // just past the IETF protocol assignments 2001::/23 that hold Teredo
  ])("negative control %p is global unicast", (address) => {
    expect(classify(address)).toBeUndefined();
  });

  // Next to the NAT64 prefixes, but outside 2000::/3: refused as unassigned, not read as NAT64.
  test.each(["64:ff9c::1", "64:ff9b:2::7f00:1", "64:ff9a:ffff::7f00:1"])("negative control %p is not NAT64", (address) => {
    expect(classify(address)).toBe("reserved");
  });
});

describe("tables", () => {
  /** A row whose network address is a more specific row's is probed at an address only it holds. */
  const PROBE: Record<string, string> = { "2001::/23": "2001:1::" };

  test.each([...IPV4_SPECIAL, ...IPV6_SPECIAL])("%p (%p) classifies its own network address as itself or a carried IPv4", (cidr, name) => {
    const address = PROBE[cidr] ?? cidr.slice(0, cidr.indexOf("/"));
    const found = classify(address);
    expect(found).toBeDefined();
    // A network address that carries an IPv4 may name the carried range instead.
    if (found !== name) expect(["ipv4-compatible", "nat64", "6to4", "teredo"]).toContain(name);
  });

  test("classifyWords reads parseNumericHost's words, IPv4-mapped ones included", () => {
    const spelled = ["0177.1", "[::ffff:127.0.0.1]", "2130706433"].map((host) => {
      const read = parseNumericHost(host);
      return read.kind === "ip" ? classifyWords(read.family, read.words) : read.kind;
    });
    expect(spelled).toEqual(["loopback", "loopback", "loopback"]);
  });

  test("classify refuses text that is no address", () => {
    expect(() => classify("localhost")).toThrow('"localhost" is not an IP address');
  });
});
