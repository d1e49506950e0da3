/**
 * @module
 * The request head as the forward port reads it before deciding what a connection is: a CONNECT
 * tunnel, or HTTP for the route engine. Only the head is parsed here (request line and header
 * lines, up to the empty line); bodies are never looked at. As strict as Bun.serve, which gets
 * every non-CONNECT request next: CRLF line ends only, no obs-fold, a token method, one of the
 * four request-target forms of RFC 9112 §3.2, HTTP/1.0 or HTTP/1.1. Empty lines before the
 * request line are skipped (RFC 9112 §2.2).
 *
 * ```ts
 * parseHead(bytes);  // { kind: "incomplete" } until "\r\n\r\n" has arrived
 * parseHead(enc("CONNECT api.example.com:443 HTTP/1.1\r\nHost: api.example.com:443\r\n\r\n"));
 * // { kind: "head", length: 64, head: { method: "CONNECT", form: "authority", target: "api.example.com:443", … } }
 * ```
 */

/** The most bytes a head may take before the connection is answered 431 (the 64 KiB). */
export const MAX_HEAD_BYTES = 64 * 1024;

export type TargetForm = "origin" | "absolute" | "authority" | "asterisk";

export interface RequestHead {
  readonly method: string;
  /** the request-target exactly as sent */
  readonly target: string;
  readonly form: TargetForm;
  readonly version: "HTTP/1.0" | "HTTP/1.1";
  /** header lines in order, names as sent, values trimmed */
  readonly headers: readonly (readonly [name: string, value: string])[];
}

export type HeadResult =
  | { readonly kind: "incomplete" }
  | { readonly kind: "too-large" }
  | { readonly kind: "invalid"; readonly reason: string }
  /** `length` is how many bytes of the buffer the head took, empty line included */
  | { readonly kind: "head"; readonly head: RequestHead; readonly length: number };

const CR = 0x0d;
const LF = 0x0a;
const INCOMPLETE: HeadResult = Object.freeze({ kind: "incomplete" });
const TOO_LARGE: HeadResult = Object.freeze({ kind: "too-large" });
const latin1 = new TextDecoder("latin1");

// RFC 9110 §5.6.2 token, for methods and header names.
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** Which byte values a token may hold, by value. */
const TOKEN_BYTE: readonly boolean[] = Array.from({ length: 256 }, (_, b) => TOKEN.test(String.fromCharCode(b)));
// Visible ASCII and obs-text, no spaces or controls (RFC 9112 §3.2).
const TARGET = /^[\x21-\x7e\x80-\xff]+$/;
// RFC 9110 §5.5 field value: VCHAR, obs-text, SP, HTAB.
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;

/** Parses the head at the start of `buf`; `limit` caps the bytes it may take. */
export function parseHead(buf: Uint8Array, limit = MAX_HEAD_BYTES): HeadResult {
  let start = 0;
  // RFC 9112 §2.2: ignore empty lines (CRLF) before the request line.
  while (start + 1 < buf.length && buf[start] === CR && buf[start + 1] === LF) start += 2;
  // A request starts with its method, a token: TLS (0x16), SSLv2 (0x80) or other bytes are refused
  // at once rather than when the head deadline passes.
  if (start < buf.length && buf[start] !== CR && !TOKEN_BYTE[buf[start]!]) return invalid("not an HTTP request");
  const end = findEmptyLine(buf, start, Math.min(buf.length, limit));
  if (end < 0) {
    // A client whose lines end in a bare LF would otherwise wait for an empty line that never comes.
    if (hasBareLf(buf, start)) return invalid("a line ends without CRLF");
    return buf.length >= limit ? TOO_LARGE : INCOMPLETE;
  }
  const text = latin1.decode(buf.subarray(start, end));
  const lines = text.split("\r\n");
  for (const line of lines) if (line.includes("\n") || line.includes("\r")) return invalid("a line ends without CRLF");
  const requestLine = parseRequestLine(lines[0]!);
  if (typeof requestLine === "string") return invalid(requestLine);
  const headers: [string, string][] = [];
  for (let i = 1; i < lines.length; i++) {
    const header = parseHeaderLine(lines[i]!);
    if (typeof header === "string") return invalid(header);
    headers.push(header);
  }
  return { kind: "head", head: { ...requestLine, headers }, length: end + 4 };
}

function hasBareLf(buf: Uint8Array, from: number): boolean {
  for (let i = buf.indexOf(LF, from); i >= 0; i = buf.indexOf(LF, i + 1)) if (i === from || buf[i - 1] !== CR) return true;
  return false;
}

/** Index of the CRLF CRLF that ends the head (starting at or after `from`, ending by `to`), or -1. */
function findEmptyLine(buf: Uint8Array, from: number, to: number): number {
  for (let i = buf.indexOf(CR, from); i >= 0 && i + 4 <= to; i = buf.indexOf(CR, i + 1)) {
    if (buf[i + 1] === LF && buf[i + 2] === CR && buf[i + 3] === LF) return i;
  }
  return -1;
}

function parseRequestLine(line: string): Omit<RequestHead, "headers"> | string {
  const parts = line.split(" ");
  if (parts.length !== 3) return "the request line is not: method target version";
  const [method, target, version] = parts as [string, string, string];
  if (!TOKEN.test(method)) return "the method is not a token";
  if (!TARGET.test(target)) return "the request target has spaces or control characters";
  if (version !== "HTTP/1.1" && version !== "HTTP/1.0") return `unsupported protocol version ${JSON.stringify(version)}`;
  const form = targetForm(method, target);
  return "error" in form ? form.error : { method, target, form: form.form, version };
}

/** RFC 9112 §3.2: which form the target has, given the method. */
function targetForm(method: string, target: string): { form: TargetForm } | { error: string } {
  if (method === "CONNECT") return target.includes("/") ? { error: "CONNECT takes host:port, not a URL or path" } : { form: "authority" };
  if (target === "*") return method === "OPTIONS" ? { form: "asterisk" } : { error: "only OPTIONS takes the * target" };
  if (target.startsWith("/")) return { form: "origin" };
  if (/^[A-Za-z][A-Za-z0-9+.-]*:\/\//.test(target)) return { form: "absolute" };
  return { error: "the request target is not a path, a URL or host:port" };
}

function parseHeaderLine(line: string): [string, string] | string {
  // RFC 9112 §5.2: obs-fold is refused by a server that does not replace it.
  if (line.startsWith(" ") || line.startsWith("\t")) return "a header line is folded (obs-fold)";
  const colon = line.indexOf(":");
  if (colon <= 0) return "a header line has no name";
  const name = line.slice(0, colon);
  // No whitespace between name and colon (RFC 9112 §5.1): a smuggling classic.
  if (!TOKEN.test(name)) return `the header name ${JSON.stringify(name)} is not a token`;
  const value = line.slice(colon + 1).replace(/^[ \t]+|[ \t]+$/g, "");
  if (!FIELD_VALUE.test(value)) return `the value of ${name} has control characters`;
  return [name, value];
}

const invalid = (reason: string): HeadResult => ({ kind: "invalid", reason });

/** The first value of header `name` (lower case), or null: names compare case-insensitively. */
export function headerValue(head: RequestHead, name: string): string | null {
  for (const [n, value] of head.headers) if (n.length === name.length && n.toLowerCase() === name) return value;
  return null;
}
