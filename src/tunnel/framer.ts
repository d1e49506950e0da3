/**
 * @module
 * Where each request on a plain-HTTP connection begins and ends, without decoding a body. The
 * forward port relays `http_proxy` traffic to the route engine's Bun.serve, but every head must
 * be rewritten on the way (absolute-form to origin-form, Host set to the target), the heads of a
 * kept-alive connection's later requests too; so after each head the framer follows its body as
 * RFC 9112 §6.3 says (chunked, Content-Length or none) and knows where the next head starts.
 *
 * Bodies pass through untouched. Where the framing is unclear — the gap request smuggling
 * lives in — the framer does not guess: it stops, passes nothing more on and says why once.
 * After CONNECT or an Upgrade header the connection may stop being HTTP, so the framer goes
 * blind and passes everything after that head on unread.
 *
 * Copy-free: body bytes go out as views of the chunk they came in, so a body chunk costs O(1);
 * only chunk-size lines and trailers are scanned, a byte at a time (they are short). A head
 * split over several reads is the one thing copied, since Bun reuses a socket's chunk buffer
 * once the data callback returns.
 *
 * ```ts
 * const framer = new RequestFramer({
 *   out: (bytes) => upstream.push(bytes),
 *   head: (head, raw) => (allowed(head) ? rewrite(head) : { stop: "not allowed" }),
 *   onStop: (reason) => answerOrClose(reason, framer.idle),
 * });
 * // in the client socket's data handler:
 * framer.push(chunk);
 * ```
 */
import { MAX_HEAD_BYTES, parseHead, type HeadResult, type RequestHead } from "./head.ts";

/** What the head hook decides: the bytes to send instead of the raw head, or to stop before it. */
export type HeadVerdict = Uint8Array | { readonly stop: string };

export interface RequestFramerOptions {
  /** The bytes to pass on, in order: a view of a pushed chunk or of a hook's bytes, valid during the call only. */
  readonly out: (bytes: Uint8Array) => void;
  /**
   * Called for each complete head, in order, once everything before it is out. `raw` is the head
   * as received (empty lines before it included), valid during the call only.
   */
  readonly head: (head: RequestHead, raw: Uint8Array) => HeadVerdict;
  /** Called once, when the framer stops; nothing is passed on after it. `inBody`: a body's framing broke, after its head went out. */
  readonly onStop: (reason: string, inBody: boolean) => void;
  /** bytes a head may take, and the trailer section too (MAX_HEAD_BYTES) */
  readonly limit?: number;
}

/** The stop reason for a head longer than the limit: the one stop that is a 431 rather than a 400. */
export const HEAD_TOO_LARGE = "the request head is too large";

/** The longest chunk-size line, extensions and CRLF included: a size line is never data, so it is bounded. */
export const MAX_CHUNK_LINE = 4096;

type Mode = "head" | "length" | "chunked" | "blind";

/** Feed it a connection's chunks in order; it passes them on through `out`, each head as the hook rewrote it. */
export class RequestFramer {
  readonly #options: RequestFramerOptions;
  readonly #limit: number;
  readonly #heads: HeadAssembler;
  #mode: Mode = "head";
  /** bytes left of a Content-Length body */
  #remaining = 0;
  /** a fresh one for each chunked body */
  #chunked = new ChunkedBody(0);
  #requests = 0;
  #stopped = false;

  constructor(options: RequestFramerOptions) {
    this.#options = options;
    this.#limit = options.limit ?? MAX_HEAD_BYTES;
    this.#heads = new HeadAssembler(this.#limit);
  }

  /** Heads read so far, refused ones included; inside the hook, the number of the head at hand. */
  get requests(): number {
    return this.#requests;
  }

  /** Between requests: no byte of the next head has come yet. After a stop, whether what went out ends between requests. */
  get idle(): boolean {
    return this.#mode === "head" && this.#heads.length === 0;
  }

  /** After CONNECT or Upgrade: the rest of the connection passes through unread. */
  get blind(): boolean {
    return this.#mode === "blind";
  }

  get stopped(): boolean {
    return this.#stopped;
  }

  /** The client socket's data handler. */
  push(chunk: Uint8Array): void {
    let pos = 0;
    while (pos < chunk.length && !this.#stopped) pos = this.#mode === "head" ? this.#readHead(chunk, pos) : this.#passBody(chunk, pos);
  }

  /** Reads a head from `pos` on, or the rest of one begun in earlier chunks; returns where it ended. */
  #readHead(chunk: Uint8Array, pos: number): number {
    const held = this.#heads.length;
    // A head never takes more than the limit, so neither does looking for one in a huge chunk.
    const part = chunk.subarray(pos, pos + this.#limit - held);
    const { result, bytes } = this.#heads.read(part);
    if (result.kind === "incomplete") return pos + part.length;
    this.#heads.clear();
    if (result.kind !== "head") {
      this.#stop(result.kind === "too-large" ? HEAD_TOO_LARGE : result.reason);
      return chunk.length;
    }
    this.#requests++;
    this.#startRequest(result.head, bytes.subarray(0, result.length));
    return pos + result.length - held;
  }

  #startRequest(head: RequestHead, raw: Uint8Array): void {
    // Decided before the hook: a head whose body cannot be delimited is not passed on at all.
    const body = bodyOf(head);
    if (body.kind === "invalid") return this.#stop(body.reason);
    const verdict = this.#options.head(head, raw);
    if (!(verdict instanceof Uint8Array)) return this.#stop(verdict.stop);
    this.#emit(verdict);
    if (body.kind === "none") return;
    this.#mode = body.kind;
    if (body.kind === "length") this.#remaining = body.length;
    if (body.kind === "chunked") this.#chunked = new ChunkedBody(this.#limit);
  }

  /** Passes body bytes from `pos` on; returns where the body (or the chunk) ended. */
  #passBody(chunk: Uint8Array, pos: number): number {
    let end = chunk.length; // blind: all of it
    if (this.#mode === "length") {
      end = Math.min(end, pos + this.#remaining);
      this.#remaining -= end - pos;
      if (this.#remaining === 0) this.#mode = "head";
    } else if (this.#mode === "chunked") {
      end = this.#chunked.scan(chunk, pos);
      if (this.#chunked.done) this.#mode = "head";
    }
    // What came before a malformed byte still goes out: it is the body as far as it was sound.
    this.#emit(chunk.subarray(pos, end));
    if (this.#mode === "chunked" && this.#chunked.error !== undefined) this.#stop(this.#chunked.error, true);
    return end;
  }

  #emit(bytes: Uint8Array): void {
    if (bytes.length > 0) this.#options.out(bytes);
  }

  #stop(reason: string, inBody = false): void {
    this.#stopped = true;
    this.#options.onStop(reason, inBody);
  }
}

// ---- what follows a head (RFC 9112 §6.3) ----

type Body =
  | { readonly kind: "none" | "chunked" | "blind" }
  | { readonly kind: "length"; readonly length: number }
  | { readonly kind: "invalid"; readonly reason: string };

const NONE: Body = { kind: "none" };
const CHUNKED: Body = { kind: "chunked" };
const BLIND: Body = { kind: "blind" };
const invalid = (reason: string): Body => ({ kind: "invalid", reason });

/** How the body after `head` is delimited; header names are matched in any case. */
function bodyOf(head: RequestHead): Body {
  // The connection may turn into something else than HTTP right after this head.
  if (head.method === "CONNECT") return BLIND;
  const codings: string[] = [];
  const lengths: string[] = [];
  for (const [name, value] of head.headers) {
    const lower = name.toLowerCase();
    if (lower === "upgrade") return BLIND;
    if (lower === "transfer-encoding") codings.push(value);
    else if (lower === "content-length") lengths.push(value);
  }
  // Transfer-Encoding wins over Content-Length (§6.3 item 3).
  if (codings.length > 0) return chunkedBody(head.version, codings);
  if (lengths.length > 0) return lengthBody(lengths);
  return NONE;
}

function chunkedBody(version: RequestHead["version"], values: readonly string[]): Body {
  // §6.1: an HTTP/1.0 message with Transfer-Encoding has faulty framing.
  if (version === "HTTP/1.0") return invalid("transfer-encoding in an HTTP/1.0 request");
  // Empty list elements do not count (RFC 9110 §5.6.1); only a final chunked ends the body by itself.
  const codings = elements(values).filter((c) => c !== "");
  return codings.at(-1)?.toLowerCase() === "chunked" ? CHUNKED : invalid("transfer-encoding without chunked");
}

function lengthBody(values: readonly string[]): Body {
  // §6.3 item 5: several values are only tolerated when they are one and the same.
  const [first, ...others] = elements(values);
  if (!/^[0-9]+$/.test(first!) || others.some((v) => v !== first)) return invalid("content-length is not one number");
  if (first!.length > 15) return invalid("content-length is too large");
  const length = Number(first);
  return length === 0 ? NONE : { kind: "length", length };
}

/** The comma-separated elements of a header's values, without OWS (SP, HTAB: not JS whitespace, which takes in NBSP). */
const elements = (values: readonly string[]): string[] => values.flatMap((v) => v.split(",")).map((e) => e.replace(/^[ \t]+|[ \t]+$/g, ""));

// ---- chunked bodies (RFC 9112 §7.1) ----

const CR = 0x0d;
const LF = 0x0a;
const COLON = 0x3a;
const SEMICOLON = 0x3b;
const EMPTY = new Uint8Array(0);
const INCOMPLETE: HeadResult = Object.freeze({ kind: "incomplete" });

/** 1 for the bytes `re` matches, by byte value. */
const byteClass = (re: RegExp) => Uint8Array.from({ length: 256 }, (_, b) => (re.test(String.fromCharCode(b)) ? 1 : 0));
// RFC 9110 §5.6.2 token: trailer field names.
const TCHAR = byteClass(/[!#$%&'*+\-.^_`|~0-9A-Za-z]/);
// VCHAR, obs-text, SP, HTAB: a field value, or a chunk extension (quoted strings hold no more).
const TEXT = byteClass(/[\t\x20-\x7e\x80-\xff]/);
const HEX = Int8Array.from({ length: 256 }, (_, b) => (/[0-9A-Fa-f]/.test(String.fromCharCode(b)) ? parseInt(String.fromCharCode(b), 16) : -1));
// Bigger chunks are refused before their size can outgrow a double's integers.
const MAX_SIZE_BEFORE_DIGIT = 2 ** 48;

const NO_CRLF = "a line of the chunked body does not end with CRLF";
const NOT_A_FIELD = "a trailer line is not a header field";

type ChunkState = "size" | "ext" | "size-lf" | "data" | "data-cr" | "data-lf" | "trailer" | "name" | "value" | "trailer-lf" | "end-lf" | "done";

/**
 * Finds where a chunked body ends, a chunk of input at a time: chunk-size line (hex, then
 * `;extensions`), data, CRLF, …, the last chunk `0`, trailer fields, the empty line. Data is
 * skipped in one step; the lines between are checked byte by byte, strictly: a byte another
 * parser might read differently stops the body rather than be passed on.
 */
class ChunkedBody {
  #state: ChunkState = "size";
  /** the chunk size being read, then the data bytes left of it */
  #size = 0;
  /** bytes of the current chunk-size line, or of the whole trailer section */
  #lineBytes = 0;
  /** why the body is malformed, once it is */
  error: string | undefined;

  constructor(readonly trailerLimit: number) {}

  get done(): boolean {
    return this.#state === "done";
  }

  /** Scans from `pos`; returns where it stopped: after the body's last byte (done), at a malformed byte (error), or at the end. */
  scan(buf: Uint8Array, pos: number): number {
    while (pos < buf.length && this.#state !== "done") {
      if (this.#state === "data") {
        const take = Math.min(this.#size, buf.length - pos);
        pos += take;
        this.#size -= take;
        if (this.#size === 0) this.#state = "data-cr";
        continue;
      }
      const error = this.#step(buf[pos]!);
      if (error !== undefined) {
        this.error = error;
        return pos;
      }
      pos++;
    }
    return pos;
  }

  #step(byte: number): string | undefined {
    switch (this.#state) {
      case "size":
      case "ext":
      case "size-lf":
        if (++this.#lineBytes > MAX_CHUNK_LINE) return "a chunk-size line is too long";
        return this.#sizeLine(byte);
      case "data-cr":
        return this.#expect(byte, CR, "data-lf");
      case "data-lf":
        return this.#expect(byte, LF, "size");
      default:
        if (++this.#lineBytes > this.trailerLimit) return "the trailer section is too large";
        return this.#trailer(byte);
    }
  }

  /** `1*HEXDIG [ ";" chunk-ext ] CRLF`; no whitespace around the size, as Bun.serve wants it too. */
  #sizeLine(byte: number): string | undefined {
    if (this.#state === "size-lf") {
      // the next line to count is the next size line, or the trailer section
      this.#lineBytes = 0;
      return this.#expect(byte, LF, this.#size > 0 ? "data" : "trailer");
    }
    if (this.#state === "size" && HEX[byte]! >= 0) {
      if (this.#size >= MAX_SIZE_BEFORE_DIGIT) return "a chunk size is too large";
      this.#size = this.#size * 16 + HEX[byte]!;
      return undefined;
    }
    // Still in "size" at the line's first byte: not one hex digit yet.
    if (this.#state === "size" && this.#lineBytes === 1) return "a chunk-size line does not start with a hex digit";
    if (byte === CR) this.#state = "size-lf";
    else if (byte === SEMICOLON || (this.#state === "ext" && TEXT[byte])) this.#state = "ext";
    else return "a chunk-size line has a byte it may not have";
    return undefined;
  }

  /** `*( field-name ":" field-value CRLF ) CRLF`: every line a field, so none can pass for a request line. */
  #trailer(byte: number): string | undefined {
    switch (this.#state) {
      case "trailer":
        if (byte === CR) this.#state = "end-lf";
        else if (TCHAR[byte]) this.#state = "name";
        else return NOT_A_FIELD;
        return undefined;
      case "name":
        if (byte === COLON) this.#state = "value";
        else if (!TCHAR[byte]) return NOT_A_FIELD;
        return undefined;
      case "value":
        if (byte === CR) this.#state = "trailer-lf";
        else if (!TEXT[byte]) return "a trailer field has control characters";
        return undefined;
      case "trailer-lf":
        return this.#expect(byte, LF, "trailer");
      default:
        return this.#expect(byte, LF, "done");
    }
  }

  #expect(byte: number, want: number, next: ChunkState): string | undefined {
    if (byte !== want) return NO_CRLF;
    this.#state = next;
    return undefined;
  }
}

// ---- heads over several chunks ----

/**
 * Holds the start of a head until the rest comes, copied (Bun reuses its chunk buffer). The head
 * is parsed again only once new bytes may have ended or spoilt it (an LF that completes CRLF CRLF,
 * or a bare one) or the limit is reached, so a head dripped in a byte at a time costs a parse, not
 * one per byte.
 */
class HeadAssembler {
  #buf = EMPTY;
  #length = 0;
  /** where the request line starts, after empty lines (skipped as parseHead skips them) */
  #start = 0;

  constructor(readonly limit: number) {}

  /** bytes held */
  get length(): number {
    return this.#length;
  }

  /** Takes `part` (no more than the limit leaves room for) and parses what is held, if that may answer. */
  read(part: Uint8Array): { readonly result: HeadResult; readonly bytes: Uint8Array } {
    if (this.#length === 0) {
      const result = parseHead(part, this.limit);
      if (result.kind === "incomplete") this.#append(part);
      return { result, bytes: part };
    }
    const ready = this.#append(part);
    const bytes = this.#buf.subarray(0, this.#length);
    return { result: ready ? parseHead(bytes, this.limit) : INCOMPLETE, bytes };
  }

  /** Forgets the head (and the buffer: most heads never need one). */
  clear(): void {
    this.#buf = EMPTY;
    this.#length = 0;
    this.#start = 0;
  }

  /** Appends; true when parseHead may now say something other than incomplete. */
  #append(part: Uint8Array): boolean {
    const from = this.#length;
    const length = from + part.length;
    if (length > this.#buf.length) {
      const grown = new Uint8Array(Math.min(this.limit, Math.max(length, 2 * this.#buf.length, 1024)));
      grown.set(this.#buf.subarray(0, from));
      this.#buf = grown;
    }
    this.#buf.set(part, from);
    this.#length = length;
    const buf = this.#buf.subarray(0, length);
    while (this.#start + 1 < length && buf[this.#start] === CR && buf[this.#start + 1] === LF) this.#start += 2;
    for (let i = buf.indexOf(LF, from); i >= 0; i = buf.indexOf(LF, i + 1)) {
      if (buf[i - 1] !== CR) return true;
      if (i - 3 >= this.#start && buf[i - 2] === LF && buf[i - 3] === CR) return true;
    }
    return length >= this.limit;
  }
}
