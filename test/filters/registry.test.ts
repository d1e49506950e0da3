import { expect, test } from "bun:test";
import { builtinFilterRegistry, builtinFilters } from "../../src/filters/builtin.ts";
import { NO_SECRETS } from "../../src/secrets/index.ts";

test("the built-in filter list has no duplicate names and finds each by name", () => {
  const registry = builtinFilterRegistry({ secrets: NO_SECRETS });
  for (const spec of builtinFilters({ secrets: NO_SECRETS })) expect(registry.get(spec.name)?.name).toBe(spec.name);
  expect(registry.get("noSuchFilter")).toBeUndefined();
});
