/**
 * @module
 * Reading a TLS ClientHello for its server name (SNI), incrementally, as the bytes of a new
 * connection arrive: the SNI port decides where a connection goes from this name alone, before a
 * single byte goes anywhere. Sources: RFC 8446 §4.1.2 and §5.1 (records, the ClientHello),
 * RFC 6066 §3 (server_name), RFC 8701 (GREASE); ../../../shared/reference/bun-notes.md §4.
 *
 * - Records (type 22, handshake) may split anywhere across reads, and the hello may be spread
 *   over several records (RFC 8446 §5.1 allows it); the handshake message is reassembled first.
 * - The ClientHello body is walked field by field: legacy_version, random, session_id (≤ 32),
 *   cipher_suites (even, not empty), compression_methods (not empty), then the extensions, which
 *   must fill the body exactly. Unknown extensions (GREASE among them) are skipped; a repeated
 *   extension type is malformed (RFC 8446 §4.2).
 * - server_name (extension 0): the first host_name entry (name type 0). The name is lower-cased
 *   and loses one trailing dot; it must be a DNS name — LDH labels (underscores let through, as
 *   real names have them) of 1 to 63 bytes, 253 in all — and never an IP literal (RFC 6066:
 *   "Literal IPv4 and IPv6 addresses are not permitted"), nor anything the URL parser could read as
 *   a number (src/net/numeric-host.ts): a dial plan must see a name, or nothing.
 * - ECH (extension 0xfe0d): the visible name is the outer, public one; it is reported as is,
 *   with `ech` set. Chrome sends a GREASE ECH extension on every connection without ECH, so its
 *   presence alone cannot be refused without refusing Chrome.
 * - A cap on the hello (16 KiB by default; real ones are 300 B to 2 KiB) and on the bytes
 *   buffered to find it, so a client cannot make the proxy hold more.
 *
 * The reader decides as early as it can: a first byte that is not 22 is `not-tls` at once.
 */
import { parseNumericHost } from "../net/numeric-host.ts";

/** The largest ClientHello handshake message read by default (its 24-bit length, without the 4-byte header). */
export const MAX_HELLO_BYTES = 16 * 1024;

/** How reading a connection's first bytes as a ClientHello ended — or that it has not yet. */
export type HelloOutcome =
  | { readonly kind: "need-more" }
  /** `length`: the bytes up to the end of the record holding the hello's last byte (everything is replayed anyway) */
  | { readonly kind: "sni"; readonly name: string; readonly ech: boolean; readonly length: number }
  | { readonly kind: "no-sni"; readonly ech: boolean }
  /** the first bytes are not a TLS handshake record (plain HTTP, SSLv2, garbage) */
  | { readonly kind: "not-tls" }
  | { readonly kind: "too-large" }
  | { readonly kind: "malformed"; readonly reason: string };

/** A final outcome: anything but need-more. */
export type HelloResult = Exclude<HelloOutcome, { kind: "need-more" }>;

const RECORD_HEADER = 5;
const HANDSHAKE_HEADER = 4;
const CONTENT_HANDSHAKE = 22;
const HANDSHAKE_CLIENT_HELLO = 1;
/** RFC 8446 §5.1: a TLSPlaintext fragment is at most 2^14 bytes */
const MAX_FRAGMENT = 1 << 14;
const EXT_SERVER_NAME = 0x0000;
const EXT_ECH = 0xfe0d;
const NAME_TYPE_HOST = 0;

const NEED_MORE: HelloOutcome = Object.freeze({ kind: "need-more" });
const NOT_TLS: HelloResult = Object.freeze({ kind: "not-tls" });
const TOO_LARGE: HelloResult = Object.freeze({ kind: "too-large" });
type Malformed = Extract<HelloResult, { kind: "malformed" }>;
const malformed = (reason: string): Malformed => ({ kind: "malformed", reason });

/**
 * Feed it a connection's bytes with {@link push} until the outcome is not `need-more`; it keeps
 * everything it was given in {@link bytes}, to be replayed upstream. After a final outcome, later
 * pushes return that outcome again and keep nothing more.
 */
export class ClientHelloReader {
  #buffer = new Uint8Array(1024);
  #length = 0;
  /** where the next record header starts in the buffer */
  #recordAt = 0;
  /** the handshake message reassembled from the records' fragments */
  #handshake = new Uint8Array(0);
  #handshakeLength = 0;
  #result: HelloResult | undefined;

  /** `limit`: the largest hello message; bytes buffered to find it are capped at twice that (record headers, tiny fragments) */
  constructor(readonly limit: number = MAX_HELLO_BYTES) {}

  /** everything pushed so far (until a final outcome), in order */
  get bytes(): Uint8Array {
    return this.#buffer.subarray(0, this.#length);
  }

  /** the final outcome, once there is one */
  get result(): HelloResult | undefined {
    return this.#result;
  }

  push(chunk: Uint8Array): HelloOutcome {
    if (this.#result) return this.#result;
    this.#append(chunk);
    const outcome = this.#read();
    if (outcome.kind !== "need-more") this.#result = outcome;
    return outcome;
  }

  #append(chunk: Uint8Array): void {
    if (this.#length + chunk.length > this.#buffer.length) {
      const grown = new Uint8Array(Math.max(this.#buffer.length * 2, this.#length + chunk.length));
      grown.set(this.#buffer.subarray(0, this.#length));
      this.#buffer = grown;
    }
    this.#buffer.set(chunk, this.#length);
    this.#length += chunk.length;
  }

  #read(): HelloOutcome {
    const b = this.#buffer;
    for (;;) {
      const first = this.#recordAt === 0;
      const available = this.#length - this.#recordAt;
      if (available < 1) return this.#capped();
      if (b[this.#recordAt] !== CONTENT_HANDSHAKE) return first ? NOT_TLS : malformed("a record other than handshake inside the ClientHello");
      if (available < 2) return this.#capped();
      // Every TLS version so far, 1.0 to 1.3, writes 3 here (SSL 3.0 too).
      if (b[this.#recordAt + 1] !== 3) return first ? NOT_TLS : malformed("a record version other than 3.x");
      if (available < RECORD_HEADER) return this.#capped();
      const fragment = (b[this.#recordAt + 3]! << 8) | b[this.#recordAt + 4]!;
      if (fragment === 0) return malformed("an empty handshake record");
      if (fragment > MAX_FRAGMENT) return malformed(`a record of ${fragment} bytes, over 2^14`);
      if (available < RECORD_HEADER + fragment) return this.#capped();
      const start = this.#recordAt + RECORD_HEADER;
      this.#recordAt = start + fragment;
      if (this.#recordAt > this.#cap) return TOO_LARGE;
      const outcome = this.#gather(b.subarray(start, start + fragment));
      if (outcome) return outcome;
    }
  }

  /** Adds one record's fragment to the handshake message; a final outcome once it is complete or wrong. */
  #gather(fragment: Uint8Array): HelloOutcome | undefined {
    if (this.#handshakeLength + fragment.length > this.#handshake.length) {
      const grown = new Uint8Array(Math.min(Math.max(this.#handshake.length * 2, this.#handshakeLength + fragment.length, 512), HANDSHAKE_HEADER + this.limit + MAX_FRAGMENT));
      grown.set(this.#handshake.subarray(0, this.#handshakeLength));
      this.#handshake = grown;
    }
    this.#handshake.set(fragment, this.#handshakeLength);
    this.#handshakeLength += fragment.length;
    const h = this.#handshake;
    if (h[0] !== HANDSHAKE_CLIENT_HELLO) return malformed(`handshake message type ${h[0]}, not a ClientHello`);
    if (this.#handshakeLength < HANDSHAKE_HEADER) return undefined;
    const length = (h[1]! << 16) | (h[2]! << 8) | h[3]!;
    if (length > this.limit) return TOO_LARGE;
    if (this.#handshakeLength < HANDSHAKE_HEADER + length) return undefined;
    // Bytes of a next handshake message in the same record: a client sends nothing after its hello
    // before the server answers (0-RTT data comes in records of its own), so this is ignored.
    const result = parseHelloBody(h.subarray(HANDSHAKE_HEADER, HANDSHAKE_HEADER + length));
    return result.kind === "sni" ? { ...result, length: this.#recordAt } : result;
  }

  /** need-more, unless the client has sent more than a hello of the limit can take */
  #capped(): HelloOutcome {
    return this.#length > this.#cap ? TOO_LARGE : NEED_MORE;
  }

  /** the most bytes of records the hello may take: twice the limit (headers, tiny fragments) */
  get #cap(): number {
    return 2 * this.limit + RECORD_HEADER + HANDSHAKE_HEADER;
  }
}

/** Reads a whole buffer at once (for tests and one-shot callers). */
export function readClientHello(bytes: Uint8Array, limit = MAX_HELLO_BYTES): HelloOutcome {
  return new ClientHelloReader(limit).push(bytes);
}

/** A cursor over the hello body that reports running past its end as `undefined`. */
class Cursor {
  at = 0;
  constructor(readonly b: Uint8Array) {}
  get left(): number {
    return this.b.length - this.at;
  }
  u8(): number | undefined {
    return this.left >= 1 ? this.b[this.at++] : undefined;
  }
  u16(): number | undefined {
    if (this.left < 2) return undefined;
    const v = (this.b[this.at]! << 8) | this.b[this.at + 1]!;
    this.at += 2;
    return v;
  }
  take(n: number): Uint8Array | undefined {
    if (this.left < n) return undefined;
    const out = this.b.subarray(this.at, this.at + n);
    this.at += n;
    return out;
  }
}

/** The ClientHello body (after the 4-byte handshake header), whole. */
function parseHelloBody(body: Uint8Array): Exclude<HelloResult, { kind: "sni" }> | { readonly kind: "sni"; readonly name: string; readonly ech: boolean } {
  const c = new Cursor(body);
  const version = c.u16();
  if (version === undefined || c.take(32) === undefined) return malformed("the ClientHello ends inside its version or random");
  if (version >> 8 !== 3) return malformed(`legacy_version 0x${version.toString(16)} is not 3.x`);
  const sessionId = c.u8();
  if (sessionId === undefined || sessionId > 32 || c.take(sessionId) === undefined) return malformed("a bad session_id");
  const suites = c.u16();
  if (suites === undefined || suites === 0 || suites % 2 !== 0 || c.take(suites) === undefined) return malformed("bad cipher_suites");
  const compression = c.u8();
  if (compression === undefined || compression === 0 || c.take(compression) === undefined) return malformed("bad compression_methods");
  // TLS 1.2 lets a hello end here, without extensions (so without a name).
  if (c.left === 0) return { kind: "no-sni", ech: false };
  const extensionsLength = c.u16();
  if (extensionsLength === undefined || extensionsLength !== c.left) return malformed("the extensions do not fill the ClientHello");
  const seen = new Set<number>();
  let name: string | undefined;
  let nameError: string | undefined;
  while (c.left > 0) {
    const type = c.u16();
    const length = c.u16();
    const data = length === undefined ? undefined : c.take(length);
    if (type === undefined || data === undefined) return malformed("an extension runs past the end of the ClientHello");
    if (seen.has(type)) return malformed(`extension ${type} appears twice`);
    seen.add(type);
    if (type !== EXT_SERVER_NAME) continue;
    const read = readServerName(data);
    if (read.kind === "malformed") return read;
    if (read.kind === "name") name = read.name;
    else if (read.kind === "invalid") nameError = read.reason;
  }
  const ech = seen.has(EXT_ECH);
  if (nameError !== undefined) return malformed(nameError);
  return name === undefined ? { kind: "no-sni", ech } : { kind: "sni", name, ech };
}

type ServerName = { kind: "name"; name: string } | { kind: "none" } | { kind: "invalid"; reason: string } | Malformed;

/** The server_name extension's data: a ServerNameList (RFC 6066 §3). */
function readServerName(data: Uint8Array): ServerName {
  const c = new Cursor(data);
  const listLength = c.u16();
  if (listLength === undefined || listLength === 0 || listLength !== c.left) return malformed("a bad server_name list");
  let host: Uint8Array | undefined;
  while (c.left > 0) {
    const type = c.u8();
    const length = c.u16();
    const entry = length === undefined ? undefined : c.take(length);
    if (type === undefined || entry === undefined) return malformed("a server_name entry runs past its list");
    if (type !== NAME_TYPE_HOST) continue;
    // RFC 6066: no two names of the same type.
    if (host) return malformed("two host_name entries in server_name");
    host = entry;
  }
  if (!host) return { kind: "none" };
  const checked = checkHostName(host);
  return typeof checked === "string" ? { kind: "name", name: checked } : checked;
}

const LABEL = /^(?!-)[a-z0-9_-]{1,63}(?<!-)$/;

/** The name as a DNS name, lower-cased, without its trailing dot; or why it is not one. */
export function checkHostName(bytes: Uint8Array): string | { kind: "invalid"; reason: string } {
  if (bytes.length === 0) return { kind: "invalid", reason: "an empty server_name" };
  for (const byte of bytes) {
    if (byte < 0x21 || byte > 0x7e) return { kind: "invalid", reason: "server_name is not printable ASCII" };
  }
  const raw = new TextDecoder().decode(bytes);
  let name = raw.toLowerCase();
  if (name.endsWith(".")) name = name.slice(0, -1);
  const shown = JSON.stringify(raw.length > 80 ? `${raw.slice(0, 80)}…` : raw);
  if (name.startsWith("[") || name.includes(":")) return { kind: "invalid", reason: `server_name ${shown} is an IP literal` };
  if (name.length === 0 || name.length > 253) return { kind: "invalid", reason: `server_name ${shown} is not a DNS name (1 to 253 characters)` };
  if (!name.split(".").every((label) => LABEL.test(label))) return { kind: "invalid", reason: `server_name ${shown} is not a DNS name` };
  const numeric = parseNumericHost(name);
  if (numeric.kind === "ip") return { kind: "invalid", reason: `server_name ${shown} is an IP literal` };
  if (numeric.kind !== "name") return { kind: "invalid", reason: `server_name ${shown} is not a DNS name` };
  return name;
}
