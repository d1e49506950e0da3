import { expect, test } from "bun:test";
import { builtinFilters } from "../../src/filters/builtin.ts";
import { FilterRegistry } from "../../src/filters/registry.ts";
import { NO_SECRETS } from "../../src/secrets/index.ts";

test("a second spec with a taken name is refused", () => {
  const spec = { name: "setPath", create: () => ({}) };
  expect(() => new FilterRegistry([spec, spec])).toThrow("filter setPath is registered twice");
});

test("the built-in list has no duplicate names and finds each by name", () => {
  const specs = builtinFilters({ secrets: NO_SECRETS });
  const registry = new FilterRegistry(specs);
  for (const spec of specs) expect(registry.get(spec.name)).toBe(spec);
  expect(registry.get("noSuchFilter")).toBeUndefined();
});
