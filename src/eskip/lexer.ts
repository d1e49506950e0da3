/**
 * @module
 * The eskip lexer, written after the rules of Skipper's eskip/lexer.go.
 *
 * It reads UTF-8 bytes, not UTF-16 code units, so that every offset is the byte offset Skipper
 * reports. That also gives Skipper's treatment of non-ASCII text for free: outside strings,
 * regexps and comments a non-ASCII byte can start no token, so U+00A0 and friends are rejected.
 */

export type TokenKind =
  | "and" | "any" | "arrow" | "closeparen" | "colon" | "comma" | "openparen" | "semicolon"
  | "openarrow" | "closearrow" | "shunt" | "loopback" | "dynamic" | "forward"
  | "number" | "string" | "regexp" | "symbol" | "eof";

export interface Token {
  kind: TokenKind;
  /** symbol name, literal value after unescaping, number spelling, or the fixed token's text */
  value: string;
  /** byte offsets of the token in the lexed bytes */
  start: number;
  end: number;
}

export type LexReason = "unexpected token" | "incomplete token" | "invalid character";

export interface LexProblem {
  reason: LexReason;
  /** readable text, e.g. `unterminated string` */
  message: string;
  /** byte offset the readable text points at */
  at: number;
}

const single: Record<string, TokenKind> = {
  ",": "comma", ")": "closeparen", "(": "openparen", ":": "colon",
  ";": "semicolon", ">": "closearrow", "*": "any",
};

const special: [string, TokenKind][] = [
  ["<shunt>", "shunt"], ["<loopback>", "loopback"], ["<dynamic>", "dynamic"], ["<forward>", "forward"],
];

// Go's lexer skips these bytes; 0x85 and 0xA0 only ever occur inside multi-byte characters.
const isSpace = (c: number) => c === 0x20 || (c >= 0x09 && c <= 0x0d) || c === 0x85 || c === 0xa0;
const isDigit = (c: number) => c >= 0x30 && c <= 0x39;
const isAlpha = (c: number) => (c | 0x20) >= 0x61 && (c | 0x20) <= 0x7a;
const isSymbolStart = (c: number) => isAlpha(c) || c === 0x5f;
const isSymbolChar = (c: number) => isSymbolStart(c) || isDigit(c);
const SLASH = 0x2f;
const BACKSLASH = 0x5c;
const DOT = 0x2e;

const decoder = new TextDecoder();

// Escapes a string literal decodes; any other escaped byte keeps its backslash.
const stringEscapes: Record<number, number> = {
  0x61: 0x07, 0x62: 0x08, 0x66: 0x0c, 0x6e: 0x0a, 0x72: 0x0d, 0x74: 0x09, 0x76: 0x0b, [BACKSLASH]: BACKSLASH,
};

export class Lexer {
  /** where the lexer stands: Skipper's `position` */
  pos = 0;
  /** value of the last token lexed without error, as Skipper prints it in messages */
  lastToken = "";

  /**
   * @param ascii the same text as a string, when it is pure ASCII: values are then sliced from
   *   it instead of decoded from bytes
   */
  constructor(
    readonly bytes: Uint8Array,
    private readonly report: (p: LexProblem) => void,
    private readonly ascii?: string,
  ) {}

  /**
   * The next token. A lexical error is reported, then lexing goes on as Skipper's parser sees it:
   * an unterminated literal or a number ending in "." still yields its token, while a byte that
   * starts no token yields end of input (the lexer does not move past it).
   */
  next(): Token {
    this.#skipVoid();
    const b = this.bytes;
    const start = this.pos;
    if (start >= b.length) return { kind: "eof", value: "", start, end: start };
    const c = b[start]!;
    const ch = String.fromCharCode(c);
    const next = b[start + 1];

    const kind = single[ch];
    if (kind) return this.#fixed(kind, ch);
    if (c === 0x26 && next === 0x26) return this.#fixed("and", "&&");
    if (c === 0x2d && next === 0x3e) return this.#fixed("arrow", "->");
    if (c === 0x2d && next !== undefined && (isDigit(next) || next === DOT)) return this.#number();
    if (c === 0x3c) {
      for (const [text, k] of special) if (this.#startsWith(text)) return this.#fixed(k, text);
      return this.#fixed("openarrow", "<");
    }
    if (c === SLASH) {
      if (next === undefined) return this.#stuck("invalid character", `unexpected "/" at end of input`);
      return this.#regexp();
    }
    if (c === 0x22 || c === 0x60) return this.#string(c);
    if (isDigit(c) || c === DOT) return this.#number();
    if (isSymbolStart(c)) return this.#symbol();
    return this.#stuck("unexpected token", `unexpected token ${this.#describeByte(start)}`);
  }

  /** Whitespace and `//` comments. */
  #skipVoid(): void {
    const b = this.bytes;
    for (;;) {
      while (this.pos < b.length && isSpace(b[this.pos]!)) this.pos++;
      if (b[this.pos] !== SLASH || b[this.pos + 1] !== SLASH) return;
      while (this.pos < b.length && b[this.pos] !== 0x0a) this.pos++;
    }
  }

  #startsWith(text: string): boolean {
    for (let i = 0; i < text.length; i++) if (this.bytes[this.pos + i] !== text.charCodeAt(i)) return false;
    return true;
  }

  #fixed(kind: TokenKind, text: string): Token {
    return this.#token(kind, text, this.pos, this.pos + text.length);
  }

  #token(kind: TokenKind, value: string, start: number, end: number, complete = true): Token {
    this.pos = end;
    if (complete) this.lastToken = value;
    return { kind, value, start, end };
  }

  /** A byte that starts no token: report it and answer end of input, as Skipper's parser sees it. */
  #stuck(reason: LexReason, message: string): Token {
    this.report({ reason, message, at: this.pos });
    return { kind: "eof", value: "", start: this.pos, end: this.pos };
  }

  #incomplete(kind: TokenKind, value: string, start: number, end: number, message: string): Token {
    this.pos = end;
    this.report({ reason: "incomplete token", message, at: start });
    return this.#token(kind, value, start, end, false);
  }

  #symbol(): Token {
    const b = this.bytes;
    let end = this.pos + 1;
    while (end < b.length && isSymbolChar(b[end]!)) end++;
    return this.#token("symbol", this.#text(this.pos, end), this.pos, end);
  }

  /** Optional "-", then digits with at most one "."; a trailing "." is an incomplete token. */
  #number(): Token {
    const b = this.bytes;
    const start = this.pos;
    let end = b[start] === 0x2d ? start + 1 : start;
    let dot = false;
    for (; end < b.length; end++) {
      const c = b[end]!;
      if (c === DOT && !dot) dot = true;
      else if (!isDigit(c)) break;
    }
    const value = this.#text(start, end);
    if (b[end - 1] === DOT) return this.#incomplete("number", value, start, end, `number "${value}" must not end with "."`);
    return this.#token("number", value, start, end);
  }

  /** `"..."` or a backtick string: \a \b \f \n \r \t \v \\ and the escaped delimiter are decoded. */
  #string(delimiter: number): Token {
    const b = this.bytes;
    const start = this.pos;
    // Fast path: most strings hold no escape and decode as they stand.
    let i = start + 1;
    while (i < b.length && b[i] !== delimiter && b[i] !== BACKSLASH) i++;
    if (b[i] === delimiter) return this.#token("string", this.#text(start + 1, i), start, i + 1);
    const out = Array.from(b.subarray(start + 1, i));
    for (; i < b.length; i++) {
      let c = b[i]!;
      if (c === delimiter) return this.#token("string", decode(out), start, i + 1);
      if (c === BACKSLASH && i + 1 < b.length) {
        c = b[++i]!;
        const decoded = c === delimiter ? c : stringEscapes[c];
        if (decoded === undefined) out.push(BACKSLASH);
        out.push(decoded ?? c);
      } else if (c !== BACKSLASH) out.push(c);
    }
    return this.#incomplete("string", decode(out), start, i, "unterminated string");
  }

  /**
   * `/.../`: only `\/` and `\\` are decoded; other escapes stay as written, for the regexp engine.
   * A "/" inside an unescaped `[...]` class does not end the literal.
   */
  #regexp(): Token {
    const b = this.bytes;
    const start = this.pos;
    const out: number[] = [];
    let inClass = false;
    let i = start + 1;
    for (; i < b.length; i++) {
      let c = b[i]!;
      if (c === BACKSLASH) {
        if (i + 1 >= b.length) break;
        c = b[++i]!;
        if (c !== SLASH && c !== BACKSLASH) out.push(BACKSLASH);
        out.push(c);
        continue;
      }
      if (c === 0x5b) inClass = true;
      else if (c === 0x5d) inClass = false;
      else if (c === SLASH && !inClass) return this.#token("regexp", decode(out), start, i + 1);
      out.push(c);
    }
    return this.#incomplete("regexp", decode(out), start, b.length, "unterminated regexp");
  }

  #text(start: number, end: number): string {
    return this.ascii?.slice(start, end) ?? decoder.decode(this.bytes.subarray(start, end));
  }

  #describeByte(at: number): string {
    const c = this.bytes[at]!;
    if (c >= 0x20 && c < 0x7f) {
      const hint = c === 0x26 ? ' (did you mean "&&"?)' : c === 0x2d ? ' (did you mean "->"?)' : "";
      return `"${String.fromCharCode(c)}"${hint}`;
    }
    if (c < 0x80) return `0x${c.toString(16).padStart(2, "0")}`;
    // A multi-byte character: name it by its code point.
    const ch = String.fromCodePoint(decoder.decode(this.bytes.subarray(at, at + 4)).codePointAt(0)!);
    const name = `U+${ch.codePointAt(0)!.toString(16).toUpperCase().padStart(4, "0")}`;
    return /\s/u.test(ch) ? `${name} (only ASCII whitespace may separate tokens)` : `${name} ${JSON.stringify(ch)}`;
  }
}

const decode = (bytes: number[]) => decoder.decode(Uint8Array.from(bytes));

