/**
 * @module
 * The one numeric-host parser: what a host (without its port) reads as, canonicalised the way the
 * WHATWG URL parser reads it. The proxy builds its fetch URLs from host strings, so this reading
 * is the one that decides where a request goes. glibc's `inet_aton` reads the same spellings the
 * same way but refuses a trailing dot and a bare `0x`; an address is dialed as read, never
 * resolved, so that difference cannot move a request.
 *
 * - IPv4 in one to four dot-separated parts, each decimal, octal (a leading `0`) or hex (`0x`):
 *   `2130706433`, `0177.0.0.1`, `0x7f.1`, `127.1` and `127.0.0.1.` are all 127.0.0.1. Every part
 *   but the last is one byte; the last fills the bytes that remain.
 * - IPv6, bracketed or bare: `[::1]`, `::ffff:127.0.0.1`. IPv4-mapped addresses stay IPv6
 *   (`::ffff:7f00:1`), as the URL parser keeps them; unmapping is for whoever classifies them.
 *
 * A host is read one of three ways, and only "name" may be handed to a resolver:
 *
 * - `ip`: an address in some spelling, with its canonical text and its words (as `IpSet.has` in
 *   ./ip.ts takes them).
 * - `name`: plain ASCII that the URL parser takes as written (only lowercased), with no part it
 *   could read as a number.
 * - `invalid`: neither, and never to be resolved or dialed. Either it looks numeric but is out of
 *   range (`256.1.1.1`, `0x100000000`, `1.2.3.4.5`, also `a.1`: the URL parser takes any host
 *   whose last label is a number for IPv4), or the URL parser would rewrite or split it before
 *   reading it (percent-escapes, non-ASCII, tabs, `/`, `@`, ...), or it is empty.
 *
 * Why a name must never be a near-number: resolvers read these spellings differently.
 * `0177.0.0.1` is 127.0.0.1 to the URL parser but 177.0.0.1 to `Bun.dns.lookup`;
 * `127%2e0%2e0%2e1` and full-width `１２７.０.０.１` are 127.0.0.1 once the URL parser has decoded
 * and mapped them, but a name to a resolver. A check made on one reading and a dial made on
 * another is how an SSRF guard is bypassed, so anything two readers could disagree on is invalid.
 */
import { parseIPv6, type IpWords } from "./ip.ts";

/** What a host reads as (see above for when each kind applies). */
export type NumericHost =
  | { readonly kind: "ip"; readonly family: 4 | 6; readonly address: string; readonly words: IpWords }
  | { readonly kind: "name" }
  | { readonly kind: "invalid" };

const NAME: NumericHost = Object.freeze({ kind: "name" });
const INVALID: NumericHost = Object.freeze({ kind: "invalid" });

/**
 * Characters the URL parser strips, decodes, maps or splits a host on, or refuses in a domain
 * (WHATWG's forbidden domain code points, and everything outside printable ASCII).
 */
const NOT_READ_AS_WRITTEN = /[^!-~]|[#%/:<>?@[\\\]^|]/;

/** Reads `host` (no port; IPv6 bracketed or not) as the URL parser would. */
export function parseNumericHost(host: string): NumericHost {
  if (host.startsWith("[")) return host.endsWith("]") ? ipv6(host, 1, host.length - 1) : INVALID;
  // No name holds a colon, and neither does a host with its port taken off: only IPv6 can.
  if (host.includes(":")) return ipv6(host, 0, host.length);
  if (host === "" || NOT_READ_AS_WRITTEN.test(host)) return INVALID;
  const parts = host.split(".");
  // A trailing dot ends a fully qualified name (`127.0.0.1.`); it does not start another part.
  if (parts.length > 1 && parts[parts.length - 1] === "") parts.pop();
  if (!endsInANumber(parts[parts.length - 1]!)) return NAME;
  const value = ipv4FromParts(parts);
  return value === undefined ? INVALID : ipv4(value);
}

/** WHATWG "ends in a number": whether the URL parser takes the host for IPv4 (even an invalid one). */
const endsInANumber = (last: string): boolean => /^[0-9]+$/.test(last) || ipv4Number(last) !== undefined;

const RADIX_DIGITS = { 8: /^[0-7]*$/, 10: /^[0-9]*$/, 16: /^[0-9a-f]*$/i } as const;

/** One part of an IPv4 spelling: `0x` hex, `0` octal, else decimal; `0x` alone is 0. */
function ipv4Number(part: string): number | undefined {
  if (part === "") return undefined;
  const radix = /^0x/i.test(part) ? 16 : part.length > 1 && part.startsWith("0") ? 8 : 10;
  const digits = part.slice(radix === 16 ? 2 : radix === 8 ? 1 : 0);
  if (!RADIX_DIGITS[radix].test(digits)) return undefined;
  // Past 2^53 parseInt loses precision, but such a number is out of range however it rounds.
  return digits === "" ? 0 : Number.parseInt(digits, radix);
}

/** WHATWG IPv4 parser: every part but the last one byte, the last one the bytes left over. */
function ipv4FromParts(parts: readonly string[]): number | undefined {
  if (parts.length > 4) return undefined;
  const numbers: number[] = [];
  for (const part of parts) {
    const n = ipv4Number(part);
    if (n === undefined) return undefined;
    numbers.push(n);
  }
  const last = numbers.pop()!;
  if (numbers.some((n) => n > 255) || last >= 256 ** (4 - numbers.length)) return undefined;
  return numbers.reduce((value, n, i) => value + n * 256 ** (3 - i), last);
}

function ipv4(value: number): NumericHost {
  const words = new Uint32Array(4);
  words[0] = value;
  const address = [value >>> 24, (value >>> 16) & 0xff, (value >>> 8) & 0xff, value & 0xff].join(".");
  return { kind: "ip", family: 4, address, words };
}

function ipv6(host: string, start: number, end: number): NumericHost {
  const words = new Uint32Array(4);
  if (!parseIPv6(host, start, end, words)) return INVALID;
  return { kind: "ip", family: 6, address: formatIPv6(words), words };
}

/**
 * RFC 5952 text, as the URL parser serialises IPv6: lowercase hex without leading zeros, the
 * first longest run of two or more zero groups as `::`, and no dotted IPv4 tail.
 */
function formatIPv6(words: IpWords): string {
  const groups = Array.from({ length: 8 }, (_, g) => (g % 2 === 0 ? words[g >> 1]! >>> 16 : words[g >> 1]! & 0xffff));
  let runStart = -1;
  let runLength = 1;
  for (let g = 0; g < 8; g++) {
    let end = g;
    while (end < 8 && groups[end] === 0) end++;
    if (end - g > runLength) [runStart, runLength] = [g, end - g];
    g = end;
  }
  const hex = (from: number, to: number) => groups.slice(from, to).map((group) => group.toString(16)).join(":");
  return runStart < 0 ? hex(0, 8) : `${hex(0, runStart)}::${hex(runStart + runLength, 8)}`;
}
