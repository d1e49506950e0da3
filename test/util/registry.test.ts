import { describe, expect, test } from "bun:test";
import { builtinPredicateRegistry, builtinPredicates } from "../../src/predicates/builtin.ts";
import { createRegistry } from "../../src/util/registry.ts";

describe("createRegistry", () => {
  const a = { name: "A", create: () => ({ weight: 0 }) };
  const b = { name: "B", create: () => ({ weight: 0 }) };

  test("looks specs up by name", () => {
    const registry = createRegistry([b, a]);
    expect([registry.get("A"), registry.get("B"), registry.get("C")]).toEqual([a, b, undefined]);
    expect([registry.has("A"), registry.has("a")]).toEqual([true, false]);
    expect(registry.names()).toEqual(["A", "B"]);
  });

  test("refuses a duplicate name", () => {
    expect(() => createRegistry([a, { ...a }])).toThrow('duplicate predicate "A"');
    expect(() => createRegistry([a, a], "filter")).toThrow('duplicate filter "A"');
  });
});

describe("builtin predicates", () => {
  test("the explicit list", () => {
    expect(builtinPredicates().map((s) => s.name)).toEqual([
      "Host",
      "Path",
      "PathSubtree",
      "PathRegexp",
      "Method",
      "Methods",
      "Header",
      "HeaderRegexp",
      "Cookie",
      "QueryParam",
      "True",
      "False",
      "Weight",
      "ClientIP",
      "Source",
      "SourceFromLast",
    ]);
  });

  test("the registry holds them all", () => {
    const registry = builtinPredicateRegistry();
    expect(registry.names()).toEqual(builtinPredicates().map((s) => s.name).sort());
  });
});
