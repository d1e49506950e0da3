/** Where errors point (line, byte column), which route they name, and how they read. */
import { describe, expect, test } from "bun:test";
import { EskipError, parse, parseFilters, parsePredicates } from "../../src/eskip/index.ts";

function failure(f: () => unknown): EskipError {
  try {
    f();
  } catch (e) {
    if (e instanceof EskipError) return e;
    throw e;
  }
  throw new Error("expected an EskipError");
}

const doc = [
  "// routes",
  'r1: Path("/a") -> <shunt>;',
  'r2: Path("/b") && Method("GET") -> setPath(")") ) -> <shunt>;',
  'r3: * -> "https://example.org";',
].join("\n");

describe("syntax errors", () => {
  test("point at the offending token on a later line", () => {
    const e = failure(() => parse(doc));
    expect(e.kind).toBe("syntax");
    expect([e.line, e.column]).toEqual([3, 49]);
    expect(e.message).toBe('expected "->" after the filter but found ")"');
    expect(e.routeId).toBe("r2");
    expect(e.format("routes.eskip")).toBe('routes.eskip:3:49: expected "->" after the filter but found ")" (in route "r2")');
    expect(e.format()).toBe('3:49: expected "->" after the filter but found ")" (in route "r2")');
    // Skipper's own text: the offset is where its lexer stood, after the ")".
    expect(e.offset).toBe(doc.indexOf('") )') + 4);
    expect(e.skipperMessage).toBe(`parse failed after token ), last route id: r2, position ${e.offset}: syntax error`);
    expect(e.reason).toBe("syntax error");
  });

  test("a missing semicolon is reported after the previous route", () => {
    const e = failure(() => parse('r1: * -> <shunt>\nr2: * -> <shunt>'));
    expect(e.format("routes.eskip")).toBe('routes.eskip:2:1: expected ";" between routes but found "r2" (after route "r1")');
  });

  test("columns count bytes, as Skipper does", () => {
    const e = failure(() => parse('r1: Path("é😀") -> #'));
    // "é" is 2 bytes and "😀" 4, so "#" sits at byte 22, not at char 19.
    expect(e.column).toBe(23);
    expect(e.offset).toBe(22);
    expect(e.message).toBe('unexpected token "#"');
  });

  test("non-ASCII whitespace is rejected at its first byte", () => {
    const e = failure(() => parse('r1:\n  Path("/")\u00a0-> <shunt>'));
    expect([e.line, e.column, e.offset]).toEqual([2, 12, 15]);
    expect(e.message).toContain("U+00A0");
    expect(e.skipperMessage).toBe("parse failed after token ), last route id: r1, position 15: syntax error");
  });

  test("unterminated literals point at their opening delimiter", () => {
    const e = failure(() => parse('r1: Path("/a") ->\n  setPath("/b) -> <shunt>;'));
    expect([e.line, e.column]).toEqual([2, 11]);
    expect(e.message).toBe("unterminated string");
    expect(e.reason).toBe("syntax error");
    const r = failure(() => parse("r1: PathRegexp(/a[/]) -> <shunt>"));
    expect(r.message).toBe("unterminated regexp");
  });

  test("a stray token after a complete document keeps Skipper's lexer reason", () => {
    const e = failure(() => parse("r1: * -> <shunt>;\n#"));
    expect([e.line, e.column]).toEqual([2, 1]);
    expect(e.skipperMessage).toBe("parse failed after token ;, last route id: r1, position 18: unexpected token");
    expect(e.reason).toBe("unexpected token");
  });

  test("end of input is placed after the last byte", () => {
    const e = failure(() => parse("r1: Path(\n"));
    expect(e.message).toBe('expected an argument or ")" but found end of input');
    expect([e.line, e.column]).toEqual([2, 1]);
  });

  test("an anonymous route must be the whole document", () => {
    const e = failure(() => parse("* -> <shunt>;"));
    expect(e.message).toBe('expected end of input (a route without id must be the whole document) but found ";"');
    expect(e.routeId).toBeUndefined();
    const after = failure(() => parse("r1: * -> <shunt>;\n* -> <shunt>"));
    expect(after.format()).toBe('2:1: expected a route id but found "*" (after route "r1")');
  });

  test("filter and predicate input is trimmed, as in Skipper, but placed in the original text", () => {
    const e = failure(() => parseFilters('\n\n  setPath("/") -> -> x()'));
    expect([e.line, e.column]).toEqual([3, 19]);
    expect(e.skipperMessage).toBe("parse failed after token ->, position 18: syntax error");
    const p = failure(() => parsePredicates("  Path() && "));
    expect(p.skipperMessage).toBe("parse failed after token &&, position 9: syntax error");
  });
});

describe("semantic errors", () => {
  test("keep Skipper's text and point at the offending predicate", () => {
    const src = 'a: * -> <shunt>;\nfoo: Path("/x") &&\n  Header("Foo") -> <shunt>;';
    const e = failure(() => parse(src));
    expect(e.kind).toBe("semantic");
    expect(e.message).toBe('invalid route "foo": Header predicate expects 2 string arguments');
    expect(e.skipperMessage).toBe(e.message);
    expect(e.reason).toBe("Header predicate expects 2 string arguments");
    expect([e.line, e.column]).toEqual([3, 3]);
    expect(e.format("routes.eskip")).toBe('routes.eskip:3:3: invalid route "foo": Header predicate expects 2 string arguments');
  });

  test("duplicates name their route in format()", () => {
    const e = failure(() => parse('r9: Method("GET") && Method("PUT") -> <shunt>'));
    expect(e.format("routes.eskip")).toBe('routes.eskip:1:22: duplicate method predicate (in route "r9")');
    const h = failure(() => parse('Header("A", "1") && Header("A", "2") -> <shunt>'));
    expect(h.message).toBe("duplicate header predicate: A");
  });

  test("LB endpoints are checked like Go's url.ParseRequestURI", () => {
    const bad = failure(() => parse('r: * ->\n  <roundRobin, "http://a", "b">'));
    expect(bad.message).toBe('parse "b": invalid URI for request');
    expect([bad.line, bad.column]).toEqual([2, 28]);
    const mixed = failure(() => parse('* -> <"http://a", "https://b">'));
    expect(mixed.message).toBe("loadbalancer endpoints cannot have mixed protocols");
    expect(failure(() => parse('* -> <"http://a:x">')).message).toBe('parse "http://a:x": invalid port ":x" after host');
    expect(failure(() => parse('* -> <"http://a b">')).message).toBe('parse "http://a b": invalid character " " in host name');
    expect(failure(() => parse('* -> <"http://a/%zz">')).message).toBe('parse "http://a/%zz": invalid URL escape "%zz"');
    expect(parse('* -> <"http://a?zone=eu-1", "HTTP://b:8080/x">')[0]!.backend.type).toBe("lb");
  });
});

describe("locations of valid input", () => {
  test("routes, predicates and filters carry non-enumerable byte locations", () => {
    const [r1, r2] = parse('r1: * -> <shunt>;\n  r2: Path("é") && Host("x") ->\n    setPath("/") -> <shunt>');
    expect(r1!.loc).toEqual({ line: 1, column: 1 });
    expect(r2!.loc).toEqual({ line: 2, column: 3 });
    expect(r2!.predicates.map((p) => p.loc)).toEqual([{ line: 2, column: 7 }, { line: 2, column: 21 }]);
    expect(r2!.filters[0]!.loc).toEqual({ line: 3, column: 5 });
    expect(Object.keys(r2!)).toEqual(["id", "predicates", "filters", "backend"]);
    expect(JSON.stringify(r2!.filters[0])).toBe('{"name":"setPath","args":["/"]}');
  });
});
