/**
 * @module
 * The hostile-input corpus, by family: what test/robustness/make-corpus.ts writes to
 * corpus/*.jsonl (the data files the test reads; a test checks they are current). Each case is
 * the raw bytes a client sends to one door and the outcome it must get:
 *
 * - `reject`: a 4xx (or 501/505) answer, or a closed connection where HTTP cannot answer; the
 *   upstream never receives the request whole.
 * - `serve`: an odd but valid request: answered 200 by the upstream, which received it once.
 * - `either`: tolerated both ways (RFC 9112 lets a server reject or repair it), but never served
 *   twice, and never with a smuggled request behind it.
 * - `tunnel`: a CONNECT that must open: 200 Connection Established.
 *
 * Every HTTP case carries `X-Case: <id>` so the upstream can say which cases reached it; a
 * request smuggled inside another carries `X-Case: smuggled`, which must never arrive. `{UP}`
 * stands for the upstream's port, filled in when the test runs.
 */
import { hello, record, serverNameExtension, reframeEvery, helloMessage } from "../sni/hellos.ts";

export type Door = "address" | "forward" | "sni";
export type Expect = "reject" | "serve" | "either" | "tunnel";

export interface Case {
  readonly id: string;
  readonly door: Door;
  readonly family: string;
  readonly about: string;
  /** the bytes sent, one char per byte (latin1) */
  readonly send: string;
  readonly expect: Expect;
}

/** The name every SNI case's valid hello names: the test's DNS answers it with the loopback, and it is allowed. */
export const SNI_NAME = "ok.test";
/** The name a smuggled request carries. */
export const SMUGGLED = "smuggled";

const CRLF = "\r\n";
const latin1 = (bytes: Uint8Array) => Buffer.from(bytes).toString("latin1");

interface Request {
  readonly method?: string;
  readonly target?: string;
  readonly version?: string;
  /** header lines as written, after Host and X-Case */
  readonly headers?: readonly string[];
  /** undefined: `Host: h`; null: no Host line */
  readonly host?: string | null;
  readonly body?: string;
  /** how lines end (CRLF unless said) */
  readonly eol?: string;
}

/** The target a request on `door` names for a path: origin-form on -address, absolute-form on the forward port. */
const targetFor = (door: Door, path: string) => (door === "forward" ? `http://127.0.0.1:{UP}${path}` : path);

/** A request as bytes: request line, Host, X-Case, the headers, a blank line, the body. */
function request(door: Door, id: string, r: Request): string {
  const eol = r.eol ?? CRLF;
  const host = r.host === undefined ? (door === "forward" ? "127.0.0.1:{UP}" : "h") : r.host;
  const lines = [`${r.method ?? "GET"} ${r.target ?? targetFor(door, "/")} ${r.version ?? "HTTP/1.1"}`];
  if (host !== null) lines.push(`Host: ${host}`);
  lines.push(`X-Case: ${id}`, ...(r.headers ?? []));
  return lines.join(eol) + eol + eol + (r.body ?? "");
}

/** A request smuggled behind another's body: it must never reach the upstream. */
const smuggled = (door: Door) => request(door, SMUGGLED, { target: targetFor(door, "/smuggled") });

class Family {
  readonly cases: Case[] = [];
  constructor(
    readonly door: Door,
    readonly family: string,
  ) {}

  /** A case whose bytes `make` builds from its id. */
  add(name: string, about: string, expect: Expect, make: (id: string) => string): this {
    const id = `${this.door}/${this.family}/${name}`;
    this.cases.push({ id, door: this.door, family: this.family, about, send: make(id), expect });
    return this;
  }

  /** A request case. */
  req(name: string, about: string, expect: Expect, r: Request | ((id: string) => Request)): this {
    return this.add(name, about, expect, (id) => request(this.door, id, typeof r === "function" ? r(id) : r));
  }
}

// ---------------------------------------------------------------------------------------------
// Families shared by the two HTTP doors

/** Content-Length and Transfer-Encoding in every disagreeing shape, and bodies with requests hidden behind them. */
function framing(door: Door): Case[] {
  const f = new Family(door, "framing");
  const post = (headers: string[], body: string): Request => ({ method: "POST", target: targetFor(door, "/post"), headers, body });
  const hidden = smuggled(door);
  const chunkedEnd = "0\r\n\r\n";
  f.req("cl-te", "Content-Length and Transfer-Encoding: chunked together, a request hidden behind the chunked end", "either", post(["Content-Length: 5", "Transfer-Encoding: chunked"], chunkedEnd + hidden));
  f.req("te-cl", "Transfer-Encoding before Content-Length, a request hidden behind the declared length", "either", post(["Transfer-Encoding: chunked", `Content-Length: ${chunkedEnd.length + hidden.length}`], chunkedEnd + hidden));
  f.req("cl-te-short", "CL/TE where the length covers only part of the chunked body", "either", post(["Content-Length: 3", "Transfer-Encoding: chunked"], "5\r\nhello\r\n0\r\n\r\n"));
  f.req("cl-same-twice", "two identical Content-Length lines", "either", post(["Content-Length: 5", "Content-Length: 5"], "hello"));
  f.req("cl-conflict", "two different Content-Length lines", "reject", post(["Content-Length: 5", "Content-Length: 6"], "hello!"));
  f.req("cl-list-same", "Content-Length: 5, 5", "either", post(["Content-Length: 5, 5"], "hello"));
  f.req("cl-list-conflict", "Content-Length: 5, 6", "reject", post(["Content-Length: 5, 6"], "hello!"));
  for (const [name, value] of [
    ["negative", "-1"],
    ["plus", "+5"],
    ["hex", "0x5"],
    ["letters", "5a"],
    ["float", "5.0"],
    ["huge", "99999999999999999999999"],
    ["empty", ""],
    ["space-inside", "5 5"],
  ] as const) {
    f.req(`cl-${name}`, `Content-Length: ${value || "(empty)"}`, "reject", post([`Content-Length: ${value}`], "hello"));
  }
  f.req("cl-leading-zeros", "Content-Length: 0005 (digits, so valid)", "either", post(["Content-Length: 0005"], "hello"));
  f.req("cl-ows", "Content-Length with spaces around the value (OWS is allowed)", "serve", post(["Content-Length:   5  "], "hello"));
  f.req("cl-too-long-body", "more body bytes than Content-Length: the rest is a request of its own", "either", post(["Content-Length: 5"], "hello" + hidden.replace(SMUGGLED, `${SMUGGLED}-pipelined`)));
  const te = (name: string, value: string, expect: Expect, about = `Transfer-Encoding: ${value}`) => f.req(`te-${name}`, about, expect, post([`Transfer-Encoding: ${value}`], "5\r\nhello\r\n0\r\n\r\n"));
  te("chunked", "chunked", "serve");
  te("upper", "CHUNKED", "either");
  te("chunked-twice", "chunked, chunked", "reject");
  te("gzip-chunked", "gzip, chunked", "either");
  te("chunked-gzip", "chunked, gzip", "reject", "Transfer-Encoding: chunked, gzip (chunked not last: the length is unknowable)");
  te("identity", "identity", "reject");
  te("unknown", "xchunked", "reject");
  te("params", "chunked;q=1", "reject");
  te("leading-comma", ", chunked", "either");
  te("tab", "\tchunked", "either");
  te("vtab", "\x0bchunked", "reject");
  te("nul", "chunked\x00", "reject");
  f.req("te-two-lines", "Transfer-Encoding: gzip and Transfer-Encoding: chunked on two lines", "either", post(["Transfer-Encoding: gzip", "Transfer-Encoding: chunked"], "5\r\nhello\r\n0\r\n\r\n"));
  f.req("te-space-before-colon", "Transfer-Encoding : chunked (whitespace before the colon)", "reject", post(["Transfer-Encoding : chunked"], "5\r\nhello\r\n0\r\n\r\n"));
  f.req("te-underscore", "Transfer_Encoding: chunked, not the field at all (Content-Length: 0 frames it)", "either", post(["Transfer_Encoding: chunked", "Content-Length: 0"], ""));
  f.req("te-http10", "Transfer-Encoding: chunked on an HTTP/1.0 request", "either", { ...post(["Transfer-Encoding: chunked"], "5\r\nhello\r\n0\r\n\r\n"), version: "HTTP/1.0" });
  f.req("te-folded", "Transfer-Encoding folded onto a continuation line", "reject", post(["Transfer-Encoding:", " chunked"], "5\r\nhello\r\n0\r\n\r\n"));
  f.req("obs-fold", "an ordinary field folded onto a continuation line (obs-fold)", "reject", { headers: ["X-Folded: one", " two"] });
  f.req("obs-fold-tab", "obs-fold with a tab", "reject", { headers: ["X-Folded: one", "\ttwo"] });
  f.req("space-before-colon", "X-A : 1 (whitespace between name and colon)", "reject", { headers: ["X-A : 1"] });
  f.req("cl-space-before-colon", "Content-Length : 5", "reject", post(["Content-Length : 5"], "hello"));
  f.req("no-colon", "a header line without a colon", "reject", { headers: ["NoColonHere"] });
  f.req("empty-name", "a header line that starts with a colon", "reject", { headers: [": value"] });
  f.req("bare-cr-value", "a bare CR inside a value", "reject", { headers: ["X-A: a\rb"] });
  f.req("bare-lf-lines", "every line ended by a bare LF", "either", { eol: "\n" });
  f.req("bare-cr-lines", "every line ended by a bare CR", "reject", { eol: "\r" });
  f.req("mixed-eol", "a bare LF among CRLF lines, hiding a second header", "either", { headers: ["X-A: 1\nX-Injected: 1"] });
  const chunked = (name: string, body: string, expect: Expect, about: string) => f.req(`chunk-${name}`, about, expect, post(["Transfer-Encoding: chunked"], body));
  chunked("overflow", "ffffffffffffffffffff\r\nhello\r\n0\r\n\r\n", "reject", "a chunk size past 64 bits");
  chunked("size-2-63", "8000000000000000\r\nhello\r\n0\r\n\r\n", "reject", "a chunk size of 2^63");
  chunked("negative", "-5\r\nhello\r\n0\r\n\r\n", "reject", "a negative chunk size");
  chunked("0x", "0x5\r\nhello\r\n0\r\n\r\n", "reject", "a chunk size written 0x5");
  chunked("not-hex", "zz\r\nhello\r\n0\r\n\r\n", "reject", "a chunk size that is not hex");
  chunked("empty-size", "\r\nhello\r\n0\r\n\r\n", "reject", "an empty chunk size line");
  chunked("lies-short", `5\r\nhel\r\n0\r\n\r\n${hidden}`, "reject", "a chunk shorter than its size, a request behind it");
  chunked("lies-long", "3\r\nhello\r\n0\r\n\r\n", "reject", "a chunk longer than its size");
  chunked("no-crlf-after-data", "5\r\nhelloXX0\r\n\r\n", "reject", "chunk data not followed by CRLF");
  chunked("ext", "5;name=value\r\nhello\r\n0\r\n\r\n", "either", "a chunk extension");
  chunked("ext-quoted", '5;name="v;a\\"l"\r\nhello\r\n0\r\n\r\n', "either", "a chunk extension with a quoted string");
  chunked("ext-bare-lf", "5;x\nhello\r\n0\r\n\r\n", "reject", "a chunk extension ended by a bare LF");
  chunked("ext-huge", `5;${"x".repeat(70_000)}\r\nhello\r\n0\r\n\r\n`, "reject", "a 70 KB chunk extension");
  chunked("size-space", "5 \r\nhello\r\n0\r\n\r\n", "either", "whitespace after the chunk size");
  chunked("trailer", "5\r\nhello\r\n0\r\nX-Trailer: 1\r\n\r\n", "either", "a trailer field");
  chunked("trailer-cl", "5\r\nhello\r\n0\r\nContent-Length: 50\r\n\r\n", "either", "Content-Length as a trailer field");
  chunked("trailer-smuggle", `5\r\nhello\r\n0\r\n${hidden}`, "either", "a request where the trailer section would be");
  chunked("no-last-chunk", "5\r\nhello\r\n", "reject", "no last chunk: the body never ends");
  chunked("many-tiny", "1\r\nh\r\n".repeat(2000) + "0\r\n\r\n", "either", "2,000 chunks of one byte");
  f.req("pipelined-behind-body", "a whole POST, then a GET pipelined behind its body", "either", (id) => ({
    ...post(["Content-Length: 5"], "hello"),
    body: "hello" + request(door, `${id}#2`, { target: targetFor(door, "/second") }),
  }));
  f.req("get-with-body", "a GET with a Content-Length body", "either", { target: targetFor(door, "/get-body"), headers: ["Content-Length: 5"], body: "hello" });
  f.req("post-no-length", "a POST with neither Content-Length nor Transfer-Encoding: no body", "serve", { method: "POST", target: targetFor(door, "/post") });
  f.req("body-never-ends", "a Content-Length of 100 with 5 bytes sent", "reject", post(["Content-Length: 100"], "hello"));
  return f.cases;
}

/**
 * Control bytes where HTTP allows none (names and targets) and where it allows only tab (values).
 * On -address Bun.serve takes DEL (0x7f) in a value or a target and the proxy passes it on,
 * percent-encoded in the path: tolerated there (COMPATIBILITY.md), refused by the forward port's parser.
 */
function controlBytes(door: Door, where: readonly ("name" | "value" | "target")[]): Case[] {
  const f = new Family(door, "control-bytes");
  const del: Expect = door === "address" ? "either" : "reject";
  const hex = (b: number) => b.toString(16).padStart(2, "0");
  const bytes = [...Array(32).keys(), 0x7f].filter((b) => b !== 0x0a && b !== 0x0d);
  for (const b of bytes) {
    const c = String.fromCharCode(b);
    if (where.includes("name")) f.req(`name-${hex(b)}`, `byte 0x${hex(b)} inside a field name`, "reject", { headers: [`X-A${c}B: 1`] });
    if (where.includes("value")) f.req(`value-${hex(b)}`, `byte 0x${hex(b)} inside a field value`, b === 0x09 ? "serve" : b === 0x7f ? del : "reject", { headers: [`X-A: 1${c}2`] });
    if (where.includes("target")) f.req(`target-${hex(b)}`, `byte 0x${hex(b)} inside the request target`, b === 0x7f ? del : "reject", { target: targetFor(door, `/a${c}b`) });
  }
  f.req("name-cr", "a CR inside a field name", "reject", { headers: ["X-A\rB: 1"] });
  f.req("name-lf", "an LF inside a field name", "reject", { headers: ["X-A\nB: 1"] });
  f.req("value-obs-text", "bytes 0x80-0xff in a value (obs-text, allowed)", "either", { headers: ["X-A: caf\xe9 \xff"] });
  f.req("name-obs-text", "a byte over 0x7f in a field name", "reject", { headers: ["X-Caf\xe9: 1"] });
  f.req("name-separator", "a separator (parenthesis) in a field name", "reject", { headers: ["X-(A): 1"] });
  f.req("name-space", "a space inside a field name", "reject", { headers: ["X A: 1"] });
  return f.cases;
}

/** Request lines too long, heads too big, too many fields. */
function oversized(door: Door): Case[] {
  const f = new Family(door, "oversized");
  f.req("target-8k", "an 8 KiB target", "either", { target: targetFor(door, `/${"a".repeat(8 << 10)}`) });
  f.req("target-70k", "a 70 KiB target", "reject", { target: targetFor(door, `/${"a".repeat(70 << 10)}`) });
  f.req("target-1m", "a 1 MiB target", "reject", { target: targetFor(door, `/${"a".repeat(1 << 20)}`) });
  f.req("method-1k", "a 1 KiB method", "reject", { method: "G".repeat(1024) });
  f.req("value-8k", "an 8 KiB field value", "either", { headers: [`X-Big: ${"v".repeat(8 << 10)}`] });
  f.req("value-70k", "a 70 KiB field value", "reject", { headers: [`X-Big: ${"v".repeat(70 << 10)}`] });
  f.req("name-70k", "a 70 KiB field name", "reject", { headers: [`X-${"n".repeat(70 << 10)}: 1`] });
  f.req("fields-100", "100 fields", "either", { headers: Array.from({ length: 100 }, (_, i) => `X-F${i}: ${i}`) });
  f.req("fields-1000", "1,000 fields", "reject", { headers: Array.from({ length: 1000 }, (_, i) => `X-F${i}: ${i}`) });
  f.req("fields-20000", "20,000 tiny fields", "reject", { headers: Array(20_000).fill("X: 1") });
  f.req("head-2m", "a 2 MiB head in 32 fields", "reject", { headers: Array.from({ length: 32 }, (_, i) => `X-F${i}: ${"v".repeat(64 << 10)}`) });
  f.req("cookie-60k", "a 60 KiB Cookie", "reject", { headers: [`Cookie: ${"c=1; ".repeat(12_000)}`] });
  return f.cases;
}

/** Request lines that are not HTTP/1.1 as written. */
function requestLines(door: Door): Case[] {
  const f = new Family(door, "request-line");
  const raw = (name: string, about: string, expect: Expect, line: string) => f.add(name, about, expect, (id) => `${line}\r\nHost: ${door === "forward" ? "127.0.0.1:{UP}" : "h"}\r\nX-Case: ${id}\r\n\r\n`);
  const t = targetFor(door, "/");
  raw("unknown-method", "an unknown method (FOO)", "reject", `FOO ${t} HTTP/1.1`);
  raw("lowercase-method", "a lowercase method (get)", "reject", `get ${t} HTTP/1.1`);
  raw("double-space", "two spaces between method and target", "reject", `GET  ${t} HTTP/1.1`);
  raw("tab-separator", "a tab between method and target", "reject", `GET\t${t} HTTP/1.1`);
  raw("http-1-2", "HTTP/1.2", "either", `GET ${t} HTTP/1.2`);
  raw("http-2-0", "HTTP/2.0 on an HTTP/1 connection", "reject", `GET ${t} HTTP/2.0`);
  raw("http-1-10", "HTTP/1.10", "reject", `GET ${t} HTTP/1.10`);
  raw("http-01-1", "HTTP/01.1", "reject", `GET ${t} HTTP/01.1`);
  raw("lowercase-version", "http/1.1", "reject", `GET ${t} http/1.1`);
  raw("no-version", "no HTTP version (HTTP/0.9)", "reject", `GET ${t}`);
  raw("extra-field", "a fourth field on the request line", "reject", `GET ${t} HTTP/1.1 extra`);
  raw("trailing-space", "a space after the version", "reject", `GET ${t} HTTP/1.1 `);
  raw("no-target", "no target", "reject", "GET HTTP/1.1");
  raw("pri", "the HTTP/2 connection preface", "reject", "PRI * HTTP/2.0\r\n\r\nSM");
  raw("asterisk-get", "GET * (asterisk-form is for OPTIONS only)", "reject", "GET * HTTP/1.1");
  raw("trace", "TRACE (would echo the request)", "either", `TRACE ${t} HTTP/1.1`);
  f.add("leading-crlf", "a CRLF before the request line", "either", (id) => `\r\n${request(door, id, {})}`);
  f.add("only-crlfs", "nothing but blank lines", "reject", () => "\r\n\r\n\r\n\r\n");
  f.add("binary", "1 KiB of bytes that are not HTTP", "reject", () => latin1(Uint8Array.from({ length: 1024 }, (_, i) => (i * 151 + 7) & 0xff)));
  f.add("tls-hello", "a TLS ClientHello to a plain HTTP port", "reject", () => latin1(hello({ extensions: [serverNameExtension(SNI_NAME)] })));
  f.add("sslv2-hello", "an SSLv2-framed hello", "reject", () => latin1(Uint8Array.from([0x80, 0x2e, 0x01, 0x00, 0x02, 0x00, 0x15, 0x00, 0x00, 0x00, 0x10, ...Array(37).fill(1)])));
  f.add("h2c-preface-only", "the HTTP/2 preface without settings", "reject", () => "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
  return f.cases;
}

// ---------------------------------------------------------------------------------------------
// -address: Bun.serve in front of the route table

/** Host headers that are not one plain host[:port]. */
function hostTricks(): Case[] {
  const f = new Family("address", "host");
  const host = (name: string, value: string | null, expect: Expect, about: string) => f.req(name, about, expect, { host: value });
  host("missing", null, "reject", "no Host on HTTP/1.1");
  f.req("two", "two Host lines", "reject", { headers: ["Host: other"] });
  host("comma", "h, other", "reject", "Host: h, other");
  host("userinfo", "user@h", "reject", "Host: user@h");
  host("two-ports", "h:80:80", "reject", "Host: h:80:80");
  host("port-too-big", "h:99999", "reject", "Host: h:99999");
  host("port-letters", "h:abc", "reject", "Host: h:abc");
  host("empty-port", "h:", "either", "Host: h: (empty port)");
  host("ipv6", "[::1]", "serve", "Host: [::1]");
  host("ipv6-port", "[::1]:8080", "serve", "Host: [::1]:8080");
  host("ipv6-bare", "::1", "reject", "Host: ::1, unbracketed");
  host("ipv6-unclosed", "[::1", "reject", "Host: [::1 (unclosed bracket)");
  host("trailing-dot", "h.", "serve", "Host: h. (trailing dot)");
  host("empty", "", "either", "an empty Host");
  host("space-inside", "h h", "reject", "Host: h h");
  host("slash", "h/x", "reject", "Host: h/x");
  host("backslash", "h\\x", "reject", "Host: h\\x");
  host("percent", "h%2ex", "either", "Host: h%2ex (a percent-encoded reg-name is valid)");
  host("at-port", "h:80@evil", "reject", "Host: h:80@evil");
  host("obs-text", "caf\xe9", "reject", "a Host byte over 0x7f");
  host("long", "a".repeat(10_000), "either", "a 10,000-byte Host");
  f.req("absolute-disagrees", "an absolute-form target naming another host than Host", "either", { target: "http://other.example/path" });
  f.req("absolute-userinfo", "an absolute-form target with userinfo", "either", { target: "http://user:pass@h/path" });
  return f.cases;
}

/** Paths that spell the blocked /admin another way: each is blocked, refused, or reaches the upstream as a different path. */
function blockedPaths(): Case[] {
  const f = new Family("address", "path");
  const path = (name: string, target: string, expect: Expect, about = `GET ${target}`) => f.req(name, about, expect, { target });
  path("plain", "/admin", "reject", "the blocked path itself");
  path("sub", "/admin/x", "reject", "a path under it");
  path("encoded-letter", "/%61dmin", "reject");
  path("encoded-mid", "/ad%6din/x", "reject");
  path("encoded-upper-hex", "/%61%64%6D%69%6E", "reject");
  path("dot-segment", "/x/../admin", "reject");
  path("dot-segments-deep", "/x/y/../../admin/z", "reject");
  path("encoded-dots", "/x/%2e%2e/admin", "reject");
  path("encoded-dots-upper", "/x/%2E%2E/admin", "reject");
  path("mixed-dots", "/x/.%2e/admin", "reject");
  path("single-dot", "/./admin", "reject");
  path("double-slash", "//admin", "reject");
  path("encoded-slash-after", "/admin%2fx", "reject");
  path("trailing-encoded-slash", "/admin%2f", "reject");
  path("dot-after", "/admin/.", "reject");
  path("double-encoded", "/%2561dmin", "serve", "GET /%2561dmin: decoded once it is /%61dmin, not /admin");
  path("encoded-slash-before", "/%2fadmin", "either", "GET /%2fadmin: decoded //admin");
  path("semicolon", "/admin;x=1", "either", "GET /admin;x=1 (a matrix parameter)");
  path("nul", "/admin%00", "either", "GET /admin%00");
  path("broken-escape", "/admin%", "reject");
  path("bad-escape", "/%zzadmin", "reject");
  path("overlong-utf8", "/%c0%afadmin", "either", "GET /%c0%afadmin (an overlong slash: not UTF-8, so not /, and passed on as sent)");
  path("backslash", "/x\\..\\admin", "either");
  path("fragment", "/admin#x", "reject");
  path("query", "/admin?x=1", "reject");
  path("space-encoded", "/admin%20", "either");
  path("uppercase", "/ADMIN", "serve", "GET /ADMIN: paths are case-sensitive, as in Skipper");
  path("no-slash", "admin", "reject", "GET admin (no leading slash)");
  path("absolute-admin", "http://h/admin", "reject", "an absolute-form target for the blocked path");
  return f.cases;
}

/** CONNECT to -address, which is not a forward proxy. */
function addressConnect(): Case[] {
  return new Family("address", "connect").req("connect", "CONNECT to the reverse-proxy port", "reject", { method: "CONNECT", target: "127.0.0.1:{UP}", host: "127.0.0.1:{UP}" }).cases;
}

// ---------------------------------------------------------------------------------------------
// The forward port: our own head parser

/** Absolute-form targets: schemes, authorities and numeric spellings. */
function forwardTargets(): Case[] {
  const f = new Family("forward", "target");
  const t = (name: string, target: string, expect: Expect, about = `GET ${target}`, host = "127.0.0.1:{UP}") => f.req(name, about, expect, { target, host });
  t("plain", "http://127.0.0.1:{UP}/", "serve");
  t("host-disagrees", "http://127.0.0.1:{UP}/x", "serve", "the target's authority wins over Host: evil.test", "evil.test");
  t("userinfo", "http://user:pass@127.0.0.1:{UP}/", "either");
  t("origin-form", "/", "either", "origin-form on the forward port (routed by Host, under the egress policy)");
  t("no-scheme", "127.0.0.1:{UP}/", "reject");
  t("ftp", "ftp://127.0.0.1:{UP}/", "reject");
  t("empty-host", "http:///x", "reject");
  t("empty-host-port", "http://:{UP}/", "reject");
  t("port-0", "http://127.0.0.1:0/", "reject");
  t("port-65536", "http://127.0.0.1:65536/", "reject");
  t("port-letters", "http://127.0.0.1:abc/", "reject");
  t("two-ports", "http://127.0.0.1:{UP}:{UP}/", "reject");
  t("ipv6-loopback", "http://[::1]:{UP}/", "reject", "GET http://[::1]:{UP}/ (loopback, not on the allow list)");
  t("ipv6-unclosed", "http://[::1:{UP}/", "reject");
  t("mapped-v4", "http://[::ffff:127.0.0.1]:{UP}/", "either");
  t("decimal", "http://2130706433:{UP}/", "either", "127.0.0.1 spelled as one decimal number");
  t("short", "http://127.1:{UP}/", "either", "127.0.0.1 spelled 127.1");
  t("hex", "http://0x7f.0.0.1:{UP}/", "either", "127.0.0.1 with a hex octet");
  t("octal", "http://0177.0.0.1:{UP}/", "either", "127.0.0.1 with an octal octet");
  t("other-loopback", "http://127.0.0.2:{UP}/", "reject", "GET http://127.0.0.2:{UP}/ (not on the allow list)");
  t("this-network", "http://0.0.0.0:{UP}/", "reject");
  t("localhost", "http://localhost:{UP}/", "either");
  t("encoded-host", "http://127.0.0.%31:{UP}/", "reject");
  t("backslash", "http://127.0.0.1:{UP}\\@evil.test/", "reject");
  t("space-host", "http://127.0.0.1 :{UP}/", "reject");
  t("fragment", "http://127.0.0.1:{UP}/#x", "either");
  t("no-path", "http://127.0.0.1:{UP}", "serve");
  return f.cases;
}

/** CONNECT targets. */
function forwardConnect(): Case[] {
  const f = new Family("forward", "connect");
  const c = (name: string, target: string, expect: Expect, about = `CONNECT ${target}`, extra: readonly string[] = []) => f.add(name, about, expect, () => `CONNECT ${target} HTTP/1.1\r\nHost: ${target}\r\n${extra.map((l) => l + CRLF).join("")}\r\n`);
  c("ok", "127.0.0.1:{UP}", "tunnel");
  c("no-port", "127.0.0.1", "reject");
  c("port-0", "127.0.0.1:0", "reject");
  c("port-65536", "127.0.0.1:65536", "reject");
  c("port-name", "127.0.0.1:https", "reject");
  c("port-not-allowed", "127.0.0.1:1", "reject");
  c("ipv6-bare", "::1:{UP}", "reject");
  c("ipv6", "[::1]:{UP}", "reject", "CONNECT [::1]:{UP} (not on the allow list)");
  c("url", "http://127.0.0.1:{UP}", "reject");
  c("path", "127.0.0.1:{UP}/x", "reject");
  c("userinfo", "user@127.0.0.1:{UP}", "reject");
  c("empty", "", "reject");
  c("asterisk", "*", "reject");
  c("other-loopback", "127.0.0.2:{UP}", "reject");
  c("this-network", "0.0.0.0:{UP}", "reject");
  c("http10", "127.0.0.1:{UP}", "tunnel", "CONNECT over HTTP/1.0");
  c("with-body", "127.0.0.1:{UP}", "tunnel", "CONNECT with Content-Length: 5 (a CONNECT's content has no meaning: the bytes after the head are the tunnel's)", ["Content-Length: 5"]);
  c("proxy-auth", "127.0.0.1:{UP}", "tunnel", "CONNECT with a Proxy-Authorization the proxy does not ask for", ["Proxy-Authorization: Basic dTpw"]);
  return f.cases;
}

/** Heads that never end, or end too late. */
function forwardHeads(): Case[] {
  const f = new Family("forward", "head");
  f.add("never-ends", "a head without its blank line", "reject", (id) => `GET http://127.0.0.1:{UP}/ HTTP/1.1\r\nHost: 127.0.0.1:{UP}\r\nX-Case: ${id}\r\n`);
  f.add("only-request-line", "a request line and nothing more", "reject", () => "GET http://127.0.0.1:{UP}/ HTTP/1.1\r\n");
  f.add("half-line", "half a request line", "reject", () => "GET http://127.0");
  return f.cases;
}

// ---------------------------------------------------------------------------------------------
// The SNI port: TLS records

function sniRecords(): Case[] {
  const f = new Family("sni", "tls");
  const bytes = (name: string, about: string, expect: Expect, data: Uint8Array | number[]) => f.add(name, about, expect, () => latin1(Uint8Array.from(data)));
  const good = hello({ extensions: [serverNameExtension(SNI_NAME)] });
  bytes("valid", `a ClientHello naming ${SNI_NAME}, allowed`, "tunnel", good);
  bytes("fragmented", "the same hello split into records of 16 bytes", "tunnel", reframeEvery(good, 16));
  bytes("denied-name", "a ClientHello naming denied.test", "reject", hello({ extensions: [serverNameExtension("denied.test")] }));
  bytes("no-sni", "a ClientHello without server_name", "reject", hello({ extensions: [] }));
  bytes("no-extensions", "a ClientHello without extensions", "reject", hello({}));
  bytes("ip-literal", "server_name 127.0.0.1", "reject", hello({ extensions: [serverNameExtension("127.0.0.1")] }));
  bytes("two-names", "two host_names", "reject", hello({ extensions: [serverNameExtension(SNI_NAME, "denied.test")] }));
  bytes("empty-name", "an empty host_name", "reject", hello({ extensions: [serverNameExtension("")] }));
  bytes("bad-name", "a host_name with a space", "reject", hello({ extensions: [serverNameExtension("ok .test")] }));
  bytes("nul-name", "a host_name with a NUL", "reject", hello({ extensions: [serverNameExtension(`${SNI_NAME}\x00.evil`)] }));
  bytes("ext-length-lies", "an extensions block longer than the hello", "reject", hello({ extensions: [serverNameExtension(SNI_NAME)], extensionsLength: 4000 }));
  const message = helloMessage({ extensions: [serverNameExtension(SNI_NAME)] });
  bytes("record-truncated", "a record header promising 512 bytes, 40 sent", "reject", [22, 3, 1, 2, 0, ...message.slice(0, 40)]);
  bytes("record-empty", "an empty handshake record", "reject", [22, 3, 1, 0, 0]);
  bytes("record-oversized", "a record length over 2^14 + 2048", "reject", [22, 3, 1, 0x48, 0x01, ...message]);
  bytes("record-alert-first", "an alert record first", "reject", [21, 3, 1, 0, 2, 2, 40]);
  bytes("record-appdata-first", "application data first", "reject", record([1, 2, 3, 4], 23));
  bytes("record-ccs-first", "change_cipher_spec first", "reject", record([1], 20));
  bytes("not-client-hello", "a ServerHello instead", "reject", record([2, 0, 0, 4, 3, 3, 0, 0]));
  bytes("handshake-length-lies", "a handshake length past the record", "reject", record([1, 0x00, 0x40, 0x00, ...message.slice(4)]));
  bytes("record-version-lies", "record version 0x0000", "reject", record(message, 22, 0x0000));
  bytes("sslv2", "an SSLv2 hello", "reject", [0x80, 0x2e, 0x01, 0x00, 0x02, 0x00, 0x15, 0x00, 0x00, 0x00, 0x10, ...Array(37).fill(1)]);
  bytes("foreign-record-between", "an alert between the hello's fragments", "reject", [...reframeEvery(good, 64).slice(0, 69), 21, 3, 1, 0, 2, 1, 0, ...reframeEvery(good, 64).slice(69)]);
  f.add("http", "plain HTTP to the SNI port", "reject", () => `GET / HTTP/1.1\r\nHost: ${SNI_NAME}\r\n\r\n`);
  f.add("nothing-then-wait", "a single byte, then nothing", "reject", () => "\x16");
  bytes("garbage", "1 KiB of bytes that are not TLS", "reject", Uint8Array.from({ length: 1024 }, (_, i) => (i * 97 + 13) & 0xff));
  return f.cases;
}

/** Every case, in a stable order: the data files are written from this. */
export function buildCorpus(): Case[] {
  const httpDoor = (door: Door) => [...framing(door), ...oversized(door), ...requestLines(door)];
  return [
    ...httpDoor("address"),
    ...controlBytes("address", ["name", "value", "target"]),
    ...hostTricks(),
    ...blockedPaths(),
    ...addressConnect(),
    ...httpDoor("forward"),
    ...controlBytes("forward", ["name", "value", "target"]),
    ...forwardTargets(),
    ...forwardConnect(),
    ...forwardHeads(),
    ...sniRecords(),
  ];
}
