/**
 * @module
 * A backend's response head, parsed strictly from bytes as they arrive: the status line, the
 * header fields, and how the body is framed (RFC 9112 §6.3). Whatever a proxy should not relay —
 * a malformed line, obs-fold, a field name that is not a token, conflicting Content-Lengths, a
 * head over the cap — is an error with the code the proxy maps to `502 bad-response`, the codes
 * Bun's fetch uses for the same faults.
 *
 * A proxy's client: the hop-by-hop fields (and those the Connection header names) describe the
 * connection to the backend, so they decide the framing and keep-alive here and are left out of
 * the headers handed on.
 */
import { HOP_BY_HOP_FIELDS } from "../util/http.ts";

/** How the body after the head ends. */
export type Framing = { readonly kind: "none" } | { readonly kind: "length"; readonly length: number } | { readonly kind: "chunked" } | { readonly kind: "close" };

export interface ResponseHead {
  readonly status: number;
  /** the end-to-end fields, in order: hop-by-hop ones left out */
  readonly headers: Headers;
  readonly framing: Framing;
  /** the connection may carry another request after this response */
  readonly keepAlive: boolean;
  /** bytes of the head, including its blank line */
  readonly length: number;
}

/** An error with a `code`, as the proxy's failure mapping reads it. */
export class ClientError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** The head's byte limit, as Bun.serve's for requests. */
export const MAX_HEAD_BYTES = 64 * 1024;

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
// Field values: visible characters, spaces and tabs, and obs-text; no CR, LF or NUL.
const BAD_VALUE = /[\x00-\x08\x0a-\x1f\x7f]/;
const STATUS_LINE = /^HTTP\/1\.([01]) ([0-9]{3})(?: [^\r\n]*)?$/;
const DIGITS = /^[0-9]{1,15}$/;

const invalid = (why: string) => new ClientError("InvalidHTTPResponse", `invalid response: ${why}`);

const BLANK_LINE = Buffer.from("\r\n\r\n");

/** `bytes` as a Buffer, for its native search and decoding: itself when it is one (Bun's reads are). */
const asBuffer = (bytes: Uint8Array): Buffer => (bytes instanceof Buffer ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));

/**
 * The index just past the blank line that ends a head in `bytes`, or -1 when it has not arrived;
 * `from` is the first index its last byte may be at.
 */
export function headEnd(bytes: Uint8Array, from = 0): number {
  // Buffer's native search instead of a loop over the bytes in JavaScript.
  const at = asBuffer(bytes).indexOf(BLANK_LINE, Math.max(0, from - 3));
  return at < 0 ? -1 : at + 4;
}

/**
 * Parses the head that ends at `end` (from {@link headEnd}); `method` decides whether a body
 * follows (HEAD never has one). Throws a {@link ClientError}.
 */
export function parseResponseHead(bytes: Uint8Array, end: number, method: string): ResponseHead {
  const lines = asBuffer(bytes).toString("latin1", 0, end - 4).split("\r\n");
  const statusLine = STATUS_LINE.exec(lines[0]!);
  if (!statusLine) throw invalid("not an HTTP/1.x status line");
  const status = Number(statusLine[2]);
  // Three digits, but 000–099 is no status class: read as interim, it would wait for a final answer.
  if (status < 100) throw invalid(`status ${statusLine[2]}`);
  // First every line is checked and the framing fields read; then the end-to-end ones are kept.
  const names: string[] = [];
  const lowerNames: string[] = [];
  const values: string[] = [];
  const lengths = new Set<string>();
  let transferEncoding: string | undefined;
  let connection = "";
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!;
    const colon = line.indexOf(":");
    if (colon <= 0) throw invalid(line.startsWith(" ") || line.startsWith("\t") ? "obs-fold" : "a header line without a name");
    const name = line.slice(0, colon);
    if (!TOKEN.test(name)) throw invalid("a header name that is not a token");
    const value = line.slice(colon + 1).trim();
    if (BAD_VALUE.test(value)) throw invalid(`a control character in ${name}`);
    const lower = name.toLowerCase();
    names.push(name);
    lowerNames.push(lower);
    values.push(value);
    if (lower === "content-length") for (const part of value.split(",")) lengths.add(part.trim());
    else if (lower === "transfer-encoding") transferEncoding = transferEncoding === undefined ? value : `${transferEncoding}, ${value}`;
    else if (lower === "connection") connection += `,${value.toLowerCase()}`;
  }
  const named = connection === "" ? undefined : new Set(connection.split(",").map((n) => n.trim()));
  const headers = new Headers();
  for (let i = 0; i < names.length; i++) {
    const lower = lowerNames[i]!;
    if (!HOP_BY_HOP_FIELDS.has(lower) && !named?.has(lower)) headers.append(names[i]!, values[i]!);
  }
  const closes = connection.includes("close") || (statusLine[1] === "0" && !connection.includes("keep-alive"));
  const framing = framingOf(status, method, lengths, transferEncoding);
  return { status, headers, framing, keepAlive: !closes && framing.kind !== "close", length: end };
}

function framingOf(status: number, method: string, lengths: ReadonlySet<string>, transferEncoding: string | undefined): Framing {
  if (method === "HEAD" || status === 204 || status === 304 || (status >= 100 && status < 200)) return { kind: "none" };
  if (transferEncoding !== undefined) {
    // Chunked last, or the body runs to the close (RFC 9112 §6.3 item 4); a Content-Length beside it is ignored.
    return transferEncoding.toLowerCase().split(",").at(-1)!.trim() === "chunked" ? { kind: "chunked" } : { kind: "close" };
  }
  if (lengths.size === 0) return { kind: "close" };
  const [length] = lengths;
  if (lengths.size > 1 || !DIGITS.test(length!)) throw new ClientError("InvalidContentLength", "invalid response: Content-Length");
  return { kind: "length", length: Number(length) };
}
