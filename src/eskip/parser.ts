/**
 * @module
 * A hand-written recursive-descent parser for eskip, following Skipper's eskip/parser.y.
 *
 * Skipper's goyacc parser reads one token ahead and fails on the first token that cannot
 * continue a valid document. This parser reads tokens at the same moments and fails on the same
 * token, so Skipper's error text (last token, last route id, byte position) comes out identical.
 */
import type { Arg, Backend, Call, Loc, RouteDef } from "./ast.ts";
import { checkRoute } from "./check.ts";
import { EskipError, LineIndex } from "./errors.ts";
import { Lexer, type LexProblem, type Token, type TokenKind } from "./lexer.ts";

/** Parses a routing document: `id: route; ...`, or a single anonymous route. */
export function parse(src: string): RouteDef[] {
  const steps = parseSteps(src);
  for (;;) {
    const step = steps.next();
    if (step.done) return step.value;
  }
}

/**
 * {@link parse} one route at a time: it yields after each route (parsed, then checked), so that a
 * driver may give the event loop a turn while a huge routes file is read. Same result, same errors.
 */
export function* parseSteps(src: string): Generator<void, RouteDef[]> {
  const p = new Parser(src, 0);
  const routes = yield* p.runSteps(() => p.document());
  for (const r of routes) {
    const problem = checkRoute(r.def);
    if (problem) {
      const at = problem.endpoint !== undefined ? r.endpoints[problem.endpoint] : r.predicates[problem.predicate ?? -1];
      throw p.semanticError(problem.message, problem.reason, at ?? r.start, r.def.id);
    }
    yield;
  }
  return routes.map((r) => dropCatchAll(r.def));
}

/** Parses a filter chain, `f1() -> f2("a")`, as Skipper's eskip.ParseFilters. */
export function parseFilters(src: string): Call[] {
  const [text, base] = goTrim(src);
  if (!text) return [];
  const p = new Parser(src, base, text);
  return p.run(() => p.filtersOnly());
}

/** Parses predicates, `Path("/") && Method("GET")`, as eskip.ParsePredicates (which drops `*`). */
export function parsePredicates(src: string): Call[] {
  const [text, base] = goTrim(src);
  if (!text) return [];
  const p = new Parser(src, base, text);
  return p.run(() => p.predicatesOnly()).filter((c) => c.name !== "*");
}

/** A route and the byte offsets of its parts, to place the errors of the later checks. */
interface ParsedRoute {
  def: RouteDef;
  start: number;
  predicates: number[];
  endpoints: number[];
}

/** Unwinds the descent once an error has been recorded. */
class Abort {}

interface Failure {
  message: string;
  at: number;
}

const encoder = new TextEncoder();

class Parser {
  readonly #lexer: Lexer;
  readonly #lines: LineIndex;
  /** byte offset of the lexed text within the source (ParseFilters/ParsePredicates trim it) */
  readonly #base: number;
  #peeked: Token | undefined;
  #lastRouteId = "";
  #inRoute = false;
  /** Skipper's error: each new one replaces the previous, as `eskipLex.Error` does */
  #skipper: { text: string; reason: string; position: number } | undefined;
  /** the first problem, which is the one worth showing to people */
  #first: (Failure & { routeId: string; inRoute: boolean }) | undefined;

  constructor(src: string, base: number, text = src) {
    const all = encoder.encode(src);
    this.#lines = new LineIndex(all);
    this.#base = text === src ? 0 : encoder.encode(src.slice(0, base)).length;
    const bytes = text === src ? all : all.subarray(this.#base, this.#base + encoder.encode(text).length);
    // For ASCII text byte offsets are char offsets, and the lexer can slice the string directly.
    const ascii = all.length === src.length ? text : undefined;
    this.#lexer = new Lexer(bytes, (problem) => this.#lexProblem(problem), ascii);
  }

  run<T>(parseAll: () => T): T {
    let result: T | undefined;
    try {
      result = parseAll();
    } catch (e) {
      if (!(e instanceof Abort)) throw e;
    }
    if (this.#skipper) throw this.#syntaxError();
    return result!;
  }

  /** {@link run} for a grammar rule that yields between routes. */
  *runSteps<T>(parseAll: () => Generator<void, T>): Generator<void, T> {
    let result: T | undefined;
    try {
      result = yield* parseAll();
    } catch (e) {
      if (!(e instanceof Abort)) throw e;
    }
    if (this.#skipper) throw this.#syntaxError();
    return result!;
  }

  // ---- grammar -------------------------------------------------------------------------------

  /** document := routes | route. An anonymous route must be the whole document. Yields after each route. */
  *document(): Generator<void, ParsedRoute[]> {
    const t = this.#peek();
    if (t.kind === "any") return [this.#anonymous()];
    if (t.kind === "symbol") {
      this.#take();
      const after = this.#peek();
      if (after.kind === "openparen") return [this.#anonymous(t)];
      this.#expect("colon", `":" after the route id or "(" after the predicate name`);
      return yield* this.#routes([this.#routeDef(t)]);
    }
    return yield* this.#routes([]);
  }

  /** `start_predicates`: predicates, or nothing at all. */
  predicatesOnly(): Call[] {
    const t = this.#peek();
    if (t.kind !== "any" && t.kind !== "symbol") return this.#end([]);
    return this.#end(this.#predicates());
  }

  /** `start_filters`: filters joined by "->", or nothing at all. */
  filtersOnly(): Call[] {
    const filters: Call[] = [];
    if (this.#peek().kind === "symbol") {
      filters.push(this.#call(this.#take()));
      while (this.#peek().kind === "arrow") {
        this.#take();
        filters.push(this.#call(this.#expect("symbol", "a filter name")));
      }
    }
    return this.#end(filters);
  }

  /** routes := ε | routedef | routes ";" routedef | routes ";" */
  *#routes(routes: ParsedRoute[]): Generator<void, ParsedRoute[]> {
    let afterSemicolon = false;
    for (;;) {
      const t = this.#peek();
      if (t.kind === "eof") return routes;
      if (t.kind !== "semicolon") {
        this.#fail(afterSemicolon ? "a route id" : routes.length ? `";" between routes` : "a route definition");
      }
      this.#take();
      afterSemicolon = true;
      if (this.#peek().kind === "symbol") {
        afterSemicolon = false;
        const id = this.#take();
        this.#expect("colon", `":" after the route id`);
        routes.push(this.#routeDef(id));
        yield;
      }
    }
  }

  #routeDef(id: Token): ParsedRoute {
    // Skipper records the id as soon as "id:" is read, before the route itself is lexed.
    this.#lastRouteId = id.value;
    this.#inRoute = true;
    const route = this.#route(id.value, id.start);
    this.#inRoute = false;
    return route;
  }

  #anonymous(first?: Token): ParsedRoute {
    const route = this.#route("", first?.start ?? this.#peek().start, first);
    if (this.#peek().kind !== "eof") this.#fail("end of input (a route without id must be the whole document)");
    return route;
  }

  /** route := predicates "->" [filters "->"] backend */
  #route(id: string, start: number, first?: Token): ParsedRoute {
    const predicateStarts: number[] = [];
    const predicates = this.#predicates(predicateStarts, first);
    this.#expect("arrow", `"&&" or "->"`);
    const filters: Call[] = [];
    for (;;) {
      const t = this.#peek();
      if (t.kind !== "symbol") break;
      filters.push(this.#call(this.#take()));
      this.#expect("arrow", `"->" after the filter`);
    }
    const endpoints: number[] = [];
    const backend = this.#backend(endpoints);
    const def: RouteDef = withLoc({ id, predicates, filters, backend }, this.#loc(start));
    return { def, start: start + this.#base, predicates: predicateStarts, endpoints };
  }

  /** predicates := predicate { "&&" predicate }; predicate := "*" | SYMBOL "(" args ")" */
  #predicates(starts: number[] = [], first?: Token): Call[] {
    const list: Call[] = [];
    for (;;) {
      starts.push((first ?? this.#peek()).start + this.#base);
      list.push(this.#predicate(first));
      if (this.#peek().kind !== "and") return list;
      this.#take();
      first = undefined;
    }
  }

  #predicate(first?: Token): Call {
    if (first) return this.#call(first);
    const t = this.#peek();
    if (t.kind === "any") return withLoc({ name: "*", args: [] }, this.#loc(this.#take().start));
    return this.#call(this.#expect("symbol", `a predicate or "*"`));
  }

  /** SYMBOL "(" args ")", the name already read. */
  #call(name: Token): Call {
    this.#expect("openparen", () => `"(" after ${JSON.stringify(name.value)}`);
    return withLoc({ name: name.value, args: this.#args() }, this.#loc(name.start));
  }

  /** args := ε | arg | args "," arg. As in Skipper, `f(, "a")` is accepted: args can start empty. */
  #args(): Arg[] {
    const args: Arg[] = [];
    if (isArg(this.#peek().kind)) args.push(toArg(this.#take()));
    while (this.#peek().kind === "comma") {
      this.#take();
      const t = this.#peek();
      if (!isArg(t.kind)) this.#fail("an argument (number, string or regexp)");
      args.push(toArg(this.#take()));
    }
    this.#expect("closeparen", args.length ? `"," or ")"` : `an argument or ")"`);
    return args;
  }

  #backend(endpoints: number[]): Backend {
    const t = this.#peek();
    switch (t.kind) {
      case "string": this.#take(); return { type: "network", address: t.value };
      case "shunt": case "loopback": case "dynamic": case "forward": this.#take(); return { type: t.kind };
      case "openarrow": this.#take(); return this.#lb(endpoints);
      default: return this.#fail("a filter or a backend");
    }
  }

  /** "<" [SYMBOL ","] STRING { "," STRING } ">" */
  #lb(endpoints: number[]): Backend {
    const t = this.#peek();
    let algorithm: string | undefined;
    if (t.kind === "symbol") {
      algorithm = this.#take().value;
      this.#expect("comma", `"," after the algorithm name`);
    } else if (t.kind !== "string") {
      this.#fail("an algorithm name or an endpoint string");
    }
    const urls: string[] = [];
    for (;;) {
      const e = this.#expect("string", "an endpoint string");
      urls.push(e.value);
      endpoints.push(e.start + this.#base);
      if (this.#peek().kind !== "comma") break;
      this.#take();
    }
    this.#expect("closearrow", `"," or ">"`);
    return algorithm === undefined ? { type: "lb", endpoints: urls } : { type: "lb", algorithm, endpoints: urls };
  }

  /** Nothing may follow: Skipper's `$end`. */
  #end<T>(result: T): T {
    if (this.#peek().kind !== "eof") this.#fail("end of input");
    return result;
  }

  // ---- tokens and errors ---------------------------------------------------------------------

  #peek(): Token {
    return (this.#peeked ??= this.#lexer.next());
  }

  #take(): Token {
    const t = this.#peek();
    this.#peeked = undefined;
    return t;
  }

  /** `what` is built only on failure: expect is on the hot path. */
  #expect(kind: TokenKind, what: string | (() => string)): Token {
    if (this.#peek().kind !== kind) this.#fail(typeof what === "string" ? what : what());
    return this.#take();
  }

  /** A grammar error on the token just peeked: Skipper's "syntax error". */
  #fail(expected: string): never {
    const t = this.#peek();
    this.#record("syntax error", { message: `expected ${expected} but found ${describe(t)}`, at: t.start });
    throw new Abort();
  }

  #lexProblem(p: LexProblem): void {
    this.#record(p.reason, p);
  }

  #record(reason: string, failure: Failure): void {
    const lx = this.#lexer;
    const id = this.#lastRouteId ? `, last route id: ${this.#lastRouteId}` : "";
    const text = `parse failed after token ${lx.lastToken}${id}, position ${lx.pos}: ${reason}`;
    this.#skipper = { text, reason, position: lx.pos };
    this.#first ??= { ...failure, routeId: this.#lastRouteId, inRoute: this.#inRoute };
  }

  #syntaxError(): EskipError {
    const first = this.#first!;
    const skipper = this.#skipper!;
    return new EskipError({
      kind: "syntax",
      message: first.message,
      skipperMessage: skipper.text,
      reason: skipper.reason,
      offset: skipper.position,
      ...this.#lines.loc(first.at + this.#base),
      routeId: first.routeId,
      inRoute: first.inRoute,
    });
  }

  semanticError(message: string, reason: string, at: number, routeId: string): EskipError {
    const loc = this.#lines.loc(at);
    return new EskipError({ kind: "semantic", message, skipperMessage: message, reason, offset: at, ...loc, routeId, inRoute: true });
  }

  #loc(offset: number): Loc {
    return this.#lines.loc(offset + this.#base);
  }
}

const isArg = (k: TokenKind) => k === "number" || k === "string" || k === "regexp";

function toArg(t: Token): Arg {
  if (t.kind === "string") return t.value;
  if (t.kind === "regexp") return { regexp: t.value };
  // Go's strconv.ParseFloat and Number() both round correctly, so they agree on every input.
  return Number(t.value);
}

function describe(t: Token): string {
  switch (t.kind) {
    case "eof": return "end of input";
    case "string": return `string ${JSON.stringify(clip(t.value))}`;
    case "regexp": return `regexp /${clip(t.value)}/`;
    case "number": return `number ${t.value}`;
    default: return JSON.stringify(t.value);
  }
}

const clip = (s: string) => (s.length > 40 ? `${s.slice(0, 37)}...` : s);

/** `loc` stays out of JSON.stringify, so the tree serialises to the conformance shape. */
function withLoc<T extends object>(node: T, loc: Loc): T {
  Object.defineProperty(node, "loc", { value: loc, enumerable: false, writable: true, configurable: true });
  return node;
}

/** Skipper drops `*` and the deprecated `Any()` from a parsed route. */
function dropCatchAll(r: RouteDef): RouteDef {
  r.predicates = r.predicates.filter((p) => p.name !== "*" && p.name !== "Any");
  return r;
}

// Go's strings.TrimSpace (unicode.IsSpace): unlike String.prototype.trim it trims U+0085 and
// keeps U+FEFF.
const goSpace = "\\t\\n\\v\\f\\r \\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000";
const leading = new RegExp(`^[${goSpace}]+`);
const trailing = new RegExp(`[${goSpace}]+$`);

/** The trimmed text and the char offset where it starts in `src`. */
function goTrim(src: string): [string, number] {
  const base = leading.exec(src)?.[0].length ?? 0;
  return [src.slice(base).replace(trailing, ""), base];
}
