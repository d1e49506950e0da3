/**
 * @module
 * The special-purpose address ranges the private-address guard refuses, as named tables (IANA's
 * IPv4 and IPv6 Special-Purpose Address Registries, RFC 6890), and `classify`, which says which
 * one an address falls in. IPv6 forms that carry an IPv4 address (mapped, compatible, NAT64,
 * 6to4, Teredo) are classified by the IPv4 they carry: a proxy that checks `64:ff9b::7f00:1` as
 * IPv6 and lets a NAT64 gateway turn it into 127.0.0.1 has checked the wrong address.
 */
import { IpSet, parseIp, type IpWords } from "../net/ip.ts";

/** The name a decision gives for the range that refused an address. */
export type SpecialRange =
  | "this-network"
  | "private"
  | "cgnat"
  | "loopback"
  | "cloud-metadata"
  | "link-local"
  | "ietf-protocol"
  | "as112"
  | "amt"
  | "documentation"
  | "benchmarking"
  | "multicast"
  | "broadcast"
  | "reserved"
  | "6to4-relay"
  | "unspecified"
  | "ipv4-compatible"
  | "nat64"
  | "6to4"
  | "teredo"
  | "discard-only"
  | "orchid"
  | "unique-local"
  | "site-local";

type Table = readonly (readonly [cidr: string, name: SpecialRange])[];

/**
 * IPv4, most specific first: the first match names the address (metadata before link-local,
 * broadcast before reserved).
 */
export const IPV4_SPECIAL: Table = [
  ["0.0.0.0/8", "this-network"], // RFC 791, RFC 1122 §3.2.1.3
  ["10.0.0.0/8", "private"], // RFC 1918
  ["172.16.0.0/12", "private"], // RFC 1918
  ["192.168.0.0/16", "private"], // RFC 1918
  ["100.64.0.0/10", "cgnat"], // RFC 6598 shared address space
  ["127.0.0.0/8", "loopback"], // RFC 1122 §3.2.1.3
  ["169.254.169.254/32", "cloud-metadata"], // AWS, GCP, Azure, OpenStack instance metadata
  ["169.254.0.0/16", "link-local"], // RFC 3927
  ["192.0.0.0/24", "ietf-protocol"], // RFC 6890 §2.2.2
  ["192.31.196.0/24", "as112"], // RFC 7535 AS112-v4
  ["192.52.193.0/24", "amt"], // RFC 7450 Automatic Multicast Tunneling
  ["192.175.48.0/24", "as112"], // RFC 7534 AS112 direct delegation
  ["192.0.2.0/24", "documentation"], // RFC 5737 TEST-NET-1
  ["198.51.100.0/24", "documentation"], // RFC 5737 TEST-NET-2
  ["203.0.113.0/24", "documentation"], // RFC 5737 TEST-NET-3
  ["198.18.0.0/15", "benchmarking"], // RFC 2544
  ["224.0.0.0/4", "multicast"], // RFC 5771
  ["255.255.255.255/32", "broadcast"], // RFC 919, RFC 8190
  ["240.0.0.0/4", "reserved"], // RFC 1112 §4
  ["192.88.99.0/24", "6to4-relay"], // RFC 3068 anycast, deprecated by RFC 7526
];

/**
 * IPv6, most specific first. IPv4-mapped `::ffff:0:0/96` (RFC 4291 §2.5.5.2) has no row: it is
 * classified as the IPv4 address it is. Outside these rows, anything not in 2000::/3 is "reserved".
 */
export const IPV6_SPECIAL: Table = [
  ["::/128", "unspecified"], // RFC 4291 §2.5.2
  ["::1/128", "loopback"], // RFC 4291 §2.5.3
  ["::/96", "ipv4-compatible"], // RFC 4291 §2.5.5.1, deprecated
  ["64:ff9b::/96", "nat64"], // RFC 6052 well-known prefix
  ["64:ff9b:1::/48", "nat64"], // RFC 8215 local-use prefix
  ["100::/64", "discard-only"], // RFC 6666
  ["2001::/32", "teredo"], // RFC 4380 (inside 2001::/23, named by the IPv4 it carries)
  ["2001:2::/48", "benchmarking"], // RFC 5180
  ["2001:3::/32", "amt"], // RFC 7450 Automatic Multicast Tunneling
  ["2001:4:112::/48", "as112"], // RFC 7535 AS112-v6
  ["2001:10::/28", "orchid"], // RFC 4843, deprecated
  ["2001:20::/28", "orchid"], // RFC 7343 ORCHIDv2
  // RFC 2928, RFC 6890 §2.2.3: the rest of the IETF protocol assignments block — the PCP, TURN
  // and DNS-SD anycast addresses 2001:1::1–3, Drone Remote ID 2001:30::/28, and what is unassigned.
  ["2001::/23", "ietf-protocol"],
  ["2001:db8::/32", "documentation"], // RFC 3849
  ["3fff::/20", "documentation"], // RFC 9637
  ["2002::/16", "6to4"], // RFC 3056
  ["2620:4f:8000::/48", "as112"], // RFC 7534 AS112 direct delegation
  ["fd00:ec2::254/128", "cloud-metadata"], // AWS instance metadata over IPv6 (inside the ULA)
  ["fc00::/7", "unique-local"], // RFC 4193
  ["fe80::/10", "link-local"], // RFC 4291 §2.5.6
  ["fec0::/10", "site-local"], // RFC 3879, deprecated
  ["ff00::/8", "multicast"], // RFC 4291 §2.7
];

function tableSet(table: Table): IpSet {
  const set = new IpSet();
  for (const [cidr] of table) set.add(cidr);
  return set;
}

const ipv4Set = tableSet(IPV4_SPECIAL);
const ipv6Set = tableSet(IPV6_SPECIAL);

/** Global unicast IPv6 is 2000::/3 (RFC 4291 §2.4, IANA IPv6 Address Space); the rest is unassigned. */
const isGlobalUnicastBlock = (words: IpWords) => words[0]! >>> 29 === 1;

const scratch = new Uint32Array(4);

function classifyIPv4(v4: number): SpecialRange | undefined {
  scratch[0] = v4;
  const index = ipv4Set.indexOf(4, scratch);
  return index < 0 ? undefined : IPV4_SPECIAL[index]![1];
}

/**
 * The IPv4 address an IPv6 address in an embedding range carries, or -1 for other ranges.
 * Both NAT64 prefixes are read with the IPv4 in the last 32 bits (RFC 6052 §2.2, prefix length
 * 96). The local-use /48 may hold shorter layouts too, but which one a network uses is not
 * written in the address; the prefix itself is refused either way, so only the name reported
 * (and a deny rule on the carried IPv4) depends on this reading.
 */
export function embeddedIPv4(range: SpecialRange | undefined, words: IpWords): number {
  switch (range) {
    case "ipv4-compatible":
    case "nat64":
      return words[3]!;
    case "6to4":
      // RFC 3056 §2: 2002:V4ADDR::/48, the IPv4 in bits 16–47.
      return (((words[0]! & 0xffff) << 16) | (words[1]! >>> 16)) >>> 0;
    case "teredo":
      // RFC 4380 §4: the client's IPv4 is the last 32 bits, inverted.
      return (words[3]! ^ 0xffffffff) >>> 0;
    default:
      return -1;
  }
}

/** The IPv6 range, or the range of the IPv4 address it carries when that one is special too. */
function classifyIPv6(words: IpWords): SpecialRange | undefined {
  // parseIp unmaps `::ffff:a.b.c.d`, parseNumericHost keeps it IPv6 (as the URL parser does).
  if (words[0] === 0 && words[1] === 0 && words[2] === 0xffff) return classifyIPv4(words[3]!);
  const index = ipv6Set.indexOf(6, words);
  if (index < 0) return isGlobalUnicastBlock(words) ? undefined : "reserved";
  const range = IPV6_SPECIAL[index]![1];
  const carried = embeddedIPv4(range, words);
  return (carried >= 0 ? classifyIPv4(carried) : undefined) ?? range;
}

/**
 * The IPv4 address an IPv6 address carries (compatible, NAT64, 6to4, Teredo), or -1; an IPv4
 * address carries none (IPv4-mapped ones are IPv4 here, as parseIp leaves them).
 */
export function carriedIPv4(family: 4 | 6, words: IpWords): number {
  if (family === 4) return -1;
  const index = ipv6Set.indexOf(6, words);
  return index < 0 ? -1 : embeddedIPv4(IPV6_SPECIAL[index]![1], words);
}

/**
 * The special range of an address as parseIp left it (IPv4-mapped already unmapped to family 4),
 * or undefined for a global unicast address. Allocates nothing.
 */
export function classifyWords(family: 4 | 6, words: IpWords): SpecialRange | undefined {
  return family === 4 ? classifyIPv4(words[0]!) : classifyIPv6(words);
}

const parsed = new Uint32Array(4);

/**
 * The special range of an address written as an address (`127.0.0.1`, `::ffff:7f00:1`), or
 * undefined for a global unicast one. Other spellings (`0177.1`) are for parseNumericHost to
 * read first; text that is no address at all throws.
 */
export function classify(address: string): SpecialRange | undefined {
  const family = parseIp(address, 0, address.length, parsed);
  if (family === 0) throw new Error(`${JSON.stringify(address)} is not an IP address`);
  return classifyWords(family, parsed);
}
