/**
 * @module
 * Errors of the eskip parser, and the small helpers that place them in the source.
 *
 * An {@link EskipError} carries two views of one failure:
 * - `message`, `line`, `column`: for people. They name the first thing that went wrong
 *   (`unexpected token "#"`, `expected "->" but found ")"`) and point at its first byte.
 * - `skipperMessage`, `offset`, `reason`: what Skipper itself would say, byte for byte
 *   (`parse failed after token ->, position 5: syntax error`), for tools that compare.
 */

export type EskipErrorKind = "syntax" | "semantic";

export interface EskipErrorInit {
  kind: EskipErrorKind;
  message: string;
  skipperMessage: string;
  reason: string;
  line: number;
  column: number;
  offset: number;
  routeId?: string;
  /** true when the error lies inside the definition of `routeId` (not after it) */
  inRoute?: boolean;
}

export class EskipError extends Error {
  override name = "EskipError";
  /** "syntax" for lexer and grammar errors, "semantic" for the checks done after parsing */
  readonly kind: EskipErrorKind;
  /** 1-based line of the problem */
  readonly line: number;
  /** 1-based column of the problem, counted in bytes as Skipper counts them */
  readonly column: number;
  /**
   * 0-based byte offset. For syntax errors it is Skipper's `position` (where its lexer stood,
   * relative to the trimmed input in filter and predicate mode); for semantic errors, which
   * Skipper reports without a position, the offset of the offending predicate or endpoint.
   */
  readonly offset: number;
  /** the last route id seen (Skipper's "last route id"), or the id of the invalid route */
  readonly routeId: string | undefined;
  /** Skipper's reason: "syntax error", "unexpected token", "incomplete token", "invalid character", or the semantic error text */
  readonly reason: string;
  /** the exact text Skipper gives for the same input */
  readonly skipperMessage: string;
  readonly #inRoute: boolean;

  constructor(init: EskipErrorInit) {
    super(init.message);
    this.kind = init.kind;
    this.line = init.line;
    this.column = init.column;
    this.offset = init.offset;
    this.routeId = init.routeId || undefined;
    this.reason = init.reason;
    this.skipperMessage = init.skipperMessage;
    this.#inRoute = init.inRoute ?? false;
  }

  /** `file:line:col: message (in route "id")`, or `line:col: ...` without a file. */
  format(file?: string): string {
    const at = `${this.line}:${this.column}`;
    return `${file ? `${file}:${at}` : at}: ${this.message}${this.#routeNote()}`;
  }

  #routeNote(): string {
    const id = this.routeId;
    if (!id) return "";
    // Arity errors already name their route, Skipper-style.
    if (this.message.startsWith("invalid route ")) return "";
    return this.#inRoute ? ` (in route "${id}")` : ` (after route "${id}")`;
  }
}

/** Byte offsets of line starts, to turn an offset into a 1-based line and byte column. */
export class LineIndex {
  readonly #starts: number[] = [0];

  constructor(bytes: Uint8Array) {
    for (let i = 0; i < bytes.length; i++) if (bytes[i] === 0x0a) this.#starts.push(i + 1);
  }

  loc(offset: number): { line: number; column: number } {
    const starts = this.#starts;
    let lo = 0;
    let hi = starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (starts[mid]! <= offset) lo = mid;
      else hi = mid - 1;
    }
    return { line: lo + 1, column: offset - starts[lo]! + 1 };
  }
}

const printable = /[\p{L}\p{M}\p{N}\p{P}\p{S}]/u;

/** Go's strconv.Quote (as used by `%q`), close enough for URLs and ids in messages. */
export function goQuote(s: string): string {
  let out = '"';
  for (const ch of s) {
    const cp = ch.codePointAt(0)!;
    switch (ch) {
      case '"': out += '\\"'; continue;
      case "\\": out += "\\\\"; continue;
      case "\x07": out += "\\a"; continue;
      case "\b": out += "\\b"; continue;
      case "\f": out += "\\f"; continue;
      case "\n": out += "\\n"; continue;
      case "\r": out += "\\r"; continue;
      case "\t": out += "\\t"; continue;
      case "\v": out += "\\v"; continue;
    }
    if (cp < 0x20 || cp === 0x7f) out += `\\x${hex(cp, 2)}`;
    else if (cp < 0x80 || printable.test(ch)) out += ch;
    else if (cp <= 0xffff) out += `\\u${hex(cp, 4)}`;
    else out += `\\U${hex(cp, 8)}`;
  }
  return `${out}"`;
}

const hex = (n: number, width: number) => n.toString(16).padStart(width, "0");
