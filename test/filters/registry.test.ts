import { describe, expect, test } from "bun:test";
import { builtinFilterRegistry, builtinFilters } from "../../src/filters/builtin.ts";
import { NO_SECRETS } from "../../src/secrets/index.ts";
import { createRegistry } from "../../src/util/registry.ts";

const deps = { secrets: NO_SECRETS };
const specs = builtinFilters(deps);

// Names are unique by construction: createRegistry refuses a taken name, so the real list
// building at all is the proof. The tests below pin both halves of that argument.
describe("the built-in filter registry", () => {
  test("builds from the real built-in list, one entry per spec", () => {
    const registry = builtinFilterRegistry(deps);
    expect(registry.names()).toEqual(specs.map((s) => s.name).sort());
  });

  test.each(specs.map((spec) => spec.name))("would refuse a second %p", (name) => {
    const twin = { ...specs.find((s) => s.name === name)! };
    expect(() => createRegistry([...specs, twin], "filter")).toThrow(`duplicate filter ${JSON.stringify(name)}`);
  });

  test("finds each spec by name, and nothing else", () => {
    const registry = builtinFilterRegistry(deps);
    // builtinFilters() makes fresh specs per call, so compare names, not identity.
    for (const spec of specs) expect(registry.get(spec.name)?.name).toBe(spec.name);
    expect(registry.get("noSuchFilter")).toBeUndefined();
  });
});
