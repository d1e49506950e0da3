/**
 * @module
 * IP addresses and CIDR sets, parsed from string slices into a reused buffer so that matching a
 * request (the source predicates) allocates nothing. Parsing is as strict as Go's `netip` (no
 * leading zeros in IPv4, no zones). IPv4-mapped IPv6 addresses (`::ffff:1.2.3.4`) are unmapped to
 * IPv4: Bun reports IPv4 peers of a dual-stack socket that way, where Go would report `1.2.3.4`.
 * Hosts a client names, in any spelling a URL allows, are read by ./numeric-host.ts instead.
 */

/** An address as four 32-bit words; IPv4 uses word 0 only. */
export type IpWords = Uint32Array;

const COLON = 0x3a;
const DOT = 0x2e;

function digitAt(s: string, i: number): number {
  const c = s.charCodeAt(i) - 0x30;
  return c >= 0 && c <= 9 ? c : -1;
}

function hexAt(s: string, i: number): number {
  const c = s.charCodeAt(i);
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  return -1;
}

/** Dotted-quad IPv4 in s[start, end), or -1. */
function parseIPv4(s: string, start: number, end: number): number {
  let value = 0;
  let i = start;
  for (let part = 0; part < 4; part++) {
    if (part > 0) {
      if (i >= end || s.charCodeAt(i) !== DOT) return -1;
      i++;
    }
    const first = i;
    let octet = 0;
    while (i < end && digitAt(s, i) >= 0) {
      octet = octet * 10 + digitAt(s, i);
      i++;
      if (octet > 255) return -1;
    }
    const digits = i - first;
    if (digits === 0 || (digits > 1 && s.charCodeAt(first) === 0x30)) return -1;
    value = value * 256 + octet;
  }
  return i === end ? value : -1;
}

const groups = new Uint16Array(8);

/**
 * IPv6 in s[start, end) into `out`, or false. IPv4-mapped addresses stay IPv6 here (see
 * {@link parseIp} for the unmapping reading).
 */
export function parseIPv6(s: string, start: number, end: number, out: IpWords): boolean {
  let n = 0;
  let ellipsis = -1;
  let i = start;
  if (end - i >= 2 && s.charCodeAt(i) === COLON && s.charCodeAt(i + 1) === COLON) {
    ellipsis = 0;
    i += 2;
  }
  while (i < end) {
    let j = i;
    let group = 0;
    while (j < end && j - i < 4 && hexAt(s, j) >= 0) group = group * 16 + hexAt(s, j++);
    if (j < end && s.charCodeAt(j) === DOT) {
      // An IPv4 tail (`::ffff:1.2.3.4`) fills the last two groups.
      if (n > 6) return false;
      const v4 = parseIPv4(s, i, end);
      if (v4 < 0) return false;
      groups[n++] = v4 >>> 16;
      groups[n++] = v4 & 0xffff;
      i = end;
      break;
    }
    if (j === i || n === 8) return false;
    groups[n++] = group;
    if (j === end) {
      i = end;
      break;
    }
    if (s.charCodeAt(j) !== COLON) return false;
    j++;
    if (j < end && s.charCodeAt(j) === COLON) {
      if (ellipsis >= 0) return false;
      ellipsis = n;
      j++;
    } else if (j === end) {
      return false; // a single trailing colon
    }
    i = j;
  }
  if (ellipsis < 0 ? n !== 8 : n > 7) return false;
  const missing = 8 - n;
  for (let g = 0, k = 0; g < 8; g++) {
    const inGap = ellipsis >= 0 && g >= ellipsis && g < ellipsis + missing;
    const value = inGap ? 0 : groups[k++]!;
    if (g % 2 === 0) out[g / 2] = value << 16;
    else out[(g - 1) / 2] = (out[(g - 1) / 2]! | value) >>> 0;
  }
  return true;
}

/**
 * Parses the address in s[start, end) into `out` and returns its family: 4, 6, or 0 when it is not
 * an address. IPv4-mapped IPv6 comes back as 4.
 */
export function parseIp(s: string, start: number, end: number, out: IpWords): 0 | 4 | 6 {
  if (end <= start) return 0;
  const v4 = parseIPv4(s, start, end);
  if (v4 >= 0) {
    out[0] = v4;
    return 4;
  }
  if (!parseIPv6(s, start, end, out)) return 0;
  if (out[0] === 0 && out[1] === 0 && out[2] === 0xffff) {
    out[0] = out[3]!;
    return 4;
  }
  return 6;
}

/**
 * Like {@link parseIp}, but also takes `host:port` and `[v6]:port` (what X-Forwarded-For entries
 * sometimes carry, and what Skipper strips with `net.SplitHostPort`); surrounding spaces are ignored.
 */
export function parseHostIp(s: string, start: number, end: number, out: IpWords): 0 | 4 | 6 {
  while (start < end && s.charCodeAt(start) === 0x20) start++;
  while (end > start && s.charCodeAt(end - 1) === 0x20) end--;
  if (s.charCodeAt(start) === 0x5b /* [ */) {
    const close = s.indexOf("]", start);
    if (close < 0 || close >= end) return 0;
    return parseIp(s, start + 1, close, out);
  }
  const colon = s.indexOf(":", start);
  if (colon >= 0 && colon < end) {
    // Exactly one colon: IPv4 with a port. More than one: a bare IPv6 address.
    const second = s.indexOf(":", colon + 1);
    if (second < 0 || second >= end) return parseIp(s, start, colon, out);
  }
  return parseIp(s, start, end, out);
}

interface Network {
  readonly family: 4 | 6;
  /** the network address, already masked */
  readonly words: Uint32Array;
  readonly masks: Uint32Array;
}

const maskFor = (bits: number) => (bits <= 0 ? 0 : bits >= 32 ? 0xffffffff : (0xffffffff << (32 - bits)) >>> 0);

/** A set of IP networks. */
export class IpSet {
  readonly #networks: Network[] = [];

  /**
   * Parses `1.2.3.4`, `1.2.3.0/24`, `2001:db8::/32`; throws an Error saying why for anything else.
   * A bare address is a /32 or /128; as in Skipper, the unspecified address needs a prefix.
   */
  add(text: string): void {
    const slash = text.indexOf("/");
    const addressEnd = slash < 0 ? text.length : slash;
    const words = new Uint32Array(4);
    let family: 0 | 4 | 6 = parseIp(text, 0, addressEnd, words);
    if (family === 0) throw new Error(`${JSON.stringify(text.slice(0, addressEnd))} is not an IP address`);
    const mapped = family === 4 && text.lastIndexOf(":", addressEnd) >= 0;
    let bits = family === 4 ? 32 : 128;
    if (slash < 0) {
      if (words.every((w) => w === 0)) throw new Error(`${JSON.stringify(text)} is the unspecified address`);
    } else {
      const prefix = text.slice(slash + 1);
      if (!/^(0|[1-9][0-9]{0,2})$/.test(prefix)) throw new Error(`${JSON.stringify(prefix)} is not a prefix length`);
      bits = Number(prefix);
      // An IPv4-mapped prefix (`::ffff:10.0.0.0/104`) counts its bits over the whole IPv6 address.
      if (mapped) bits -= 96;
      const max = family === 4 ? 32 : 128;
      if (bits < 0 || bits > max) throw new Error(`prefix length ${prefix} is out of range`);
    }
    const masks = new Uint32Array(4);
    for (let k = 0; k < 4; k++) {
      masks[k] = maskFor(bits - 32 * k);
      words[k] = (words[k]! & masks[k]!) >>> 0;
    }
    family = family === 4 ? 4 : 6;
    this.#networks.push({ family, words, masks });
  }

  /** Whether the address of the given family in `ip` (as parseIp left it) is in one of the networks. */
  has(family: 0 | 4 | 6, ip: IpWords): boolean {
    return this.indexOf(family, ip) >= 0;
  }

  /**
   * The index (in the order they were added) of the first network at or after `from` that holds
   * the address, or -1. Callers that keep something per network (a name, a port) look it up by
   * this index, and search on from the next one when that something does not fit.
   */
  indexOf(family: 0 | 4 | 6, ip: IpWords, from = 0): number {
    if (family === 0) return -1;
    const networks = this.#networks;
    for (let n = from; n < networks.length; n++) {
      const net = networks[n]!;
      if (net.family !== family) continue;
      if (family === 4) {
        if (((ip[0]! & net.masks[0]!) >>> 0) === net.words[0]) return n;
        continue;
      }
      let inside = true;
      for (let k = 0; k < 4 && inside; k++) inside = ((ip[k]! & net.masks[k]!) >>> 0) === net.words[k];
      if (inside) return n;
    }
    return -1;
  }
}
