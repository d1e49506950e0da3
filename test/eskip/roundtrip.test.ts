/** print(parse(x)) parses back to parse(x), for every valid conformance case and the tricky literals. */
import { describe, expect, test } from "bun:test";
import {
  EskipError,
  parse,
  parseFilters,
  parsePredicates,
  print,
  printFilters,
  printNumber,
  printPredicates,
  printRegExp,
  printString,
  type RouteDef,
} from "../../src/eskip/index.ts";
import { cases, plain, title } from "./cases.ts";

describe("roundtrip of every valid conformance case", () => {
  cases.forEach((c, i) => {
    if (!c.valid) return;
    test(title(c, i), () => {
      if (c.mode === "filters") {
        const first = parseFilters(c.input);
        expect(plain(parseFilters(printFilters(first)))).toEqual(plain(first));
      } else if (c.mode === "predicates") {
        const first = parsePredicates(c.input);
        expect(plain(parsePredicates(printPredicates(first)))).toEqual(plain(first));
      } else {
        const first = parse(c.input);
        const text = print(first);
        expect(plain(parse(text))).toEqual(plain(first));
        // Printing is stable: the second print is the first one.
        expect(print(parse(text))).toBe(text);
      }
    });
  });
});

const filterArg = (text: string) => parseFilters(`f(${text})`)[0]!.args[0];

describe("literals", () => {
  test("numbers print as plain decimals that parse back exactly", () => {
    const numbers = [0, -0, 7, -42, 3.14, -0.3, 0.1, 1e21, 2.5e25, 1e-7, -1.5e-7, 5e-324, Number.MAX_VALUE, 123456789012345680000];
    for (const n of numbers) {
      const text = printNumber(n);
      expect(text).toMatch(/^-?\d+(\.\d+)?$/);
      expect(Object.is(filterArg(text), n)).toBe(true);
    }
    expect(printNumber(1e21)).toBe("1000000000000000000000");
    expect(printNumber(1.5e-7)).toBe("0.00000015");
  });

  test("infinities print as digit strings beyond the float64 range", () => {
    expect(filterArg(printNumber(Infinity))).toBe(Infinity);
    expect(filterArg(printNumber(-Infinity))).toBe(-Infinity);
    expect(() => printNumber(NaN)).toThrow(TypeError);
  });

  test("strings escape backslashes, quotes and control characters", () => {
    const values = ['a"b', "back\\slash", "\\q kept", "\x07\b\f\n\r\t\v", "tab\there", "é ünïcödé 😀", "`"];
    for (const v of values) expect(filterArg(printString(v))).toBe(v);
    expect(printString('say "hi"\n')).toBe('"say \\"hi\\"\\n"');
  });

  test("regexps keep escapes and never leave a class open before the closing slash", () => {
    const values = ["/", "[/]", "[\\]", "[\\]]", "\\[", "\\]", "[[:upper:]]", "\\d+\\.html$", "\\", "\\\\", "a\\/b", "\\\\n\"/", "[\\\\]x]"];
    for (const v of values) expect(filterArg(printRegExp(v))).toEqual({ regexp: v });
    expect(printRegExp("\\d+\\.html$")).toBe("/\\d+\\.html$/");
    expect(printRegExp("[/]")).toBe("/[\\/]/");
    expect(() => printRegExp("[")).toThrow(TypeError);
  });
});

describe("print", () => {
  const route = (id: string): RouteDef => ({
    id,
    predicates: [{ name: "Path", args: ["/x"] }, { name: "Method", args: ["GET"] }],
    filters: [{ name: "setPath", args: ["/y"] }, { name: "status", args: [201] }],
    backend: { type: "lb", algorithm: "roundRobin", endpoints: ["http://a", "http://b"] },
  });

  test("an anonymous single route prints without id", () => {
    expect(print([route("")])).toBe('Path("/x") && Method("GET") -> setPath("/y") -> status(201) -> <roundRobin, "http://a", "http://b">');
  });

  test("a document prints one `id: route;` per line", () => {
    const shunt: RouteDef = { id: "b", predicates: [], filters: [], backend: { type: "shunt" } };
    expect(print([route("a"), shunt])).toBe(
      'a: Path("/x") && Method("GET") -> setPath("/y") -> status(201) -> <roundRobin, "http://a", "http://b">;\nb: * -> <shunt>;',
    );
    expect(print([])).toBe("");
  });

  test("pretty output puts each filter and the backend on its own line and still parses", () => {
    const text = print([route("a")], { pretty: true });
    expect(text).toBe('a: Path("/x") && Method("GET")\n  -> setPath("/y")\n  -> status(201)\n  -> <roundRobin, "http://a", "http://b">;');
    expect(plain(parse(text))).toEqual(plain([route("a")]));
  });

  test("backends", () => {
    for (const type of ["shunt", "loopback", "dynamic", "forward"] as const) {
      const r: RouteDef = { id: "", predicates: [], filters: [], backend: { type } };
      expect(print([r])).toBe(`* -> <${type}>`);
    }
    const net: RouteDef = { id: "", predicates: [], filters: [], backend: { type: "network", address: "https://x.org" } };
    expect(print([net])).toBe('* -> "https://x.org"');
  });

  test("what cannot be written in eskip is refused", () => {
    const ok = route("a");
    expect(() => print([{ ...ok, id: "not an id" }])).toThrow(TypeError);
    expect(() => print([ok, { ...ok, id: "" }])).toThrow(TypeError);
    expect(() => print([{ ...ok, filters: [{ name: "set-path", args: [] }] }])).toThrow(TypeError);
    expect(() => print([{ ...ok, backend: { type: "lb", endpoints: [] } }])).toThrow(TypeError);
  });
});

describe("generated input", () => {
  // Token soup from a fixed seed: whatever parses must print and parse back, and whatever fails
  // must fail with an EskipError, never with anything else.
  const atoms = [
    "r1", ":", ";", "*", "&&", "->", "(", ")", ",", "Path", "f", '"a\\"b\\\\"', "`x`", "/[\\]]/", "/\\//", "/a\\d[/]/",
    "-1.5", ".3", "7", "<shunt>", "<", ">", "rr", '"http://a"', " ", "\n", "// c\n", "#", "\u00a0", "é", "/", '"', "-", "3.", "\\", "[", "]",
  ];
  let seed = 42;
  const random = (n: number) => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed % n;
  };

  test("token soup never crashes the parser and every valid document roundtrips", () => {
    let valid = 0;
    for (let i = 0; i < 5000; i++) {
      let src = "";
      for (let n = 1 + random(12); n > 0; n--) src += atoms[random(atoms.length)];
      for (const f of [parse, parseFilters, parsePredicates]) {
        let result: unknown[];
        try {
          result = f(src);
        } catch (e) {
          expect(e).toBeInstanceOf(EskipError);
          continue;
        }
        valid++;
        if (f === parse) expect(plain(parse(print(result as RouteDef[])))).toEqual(plain(result));
      }
    }
    expect(valid).toBeGreaterThan(25);
  });
});
