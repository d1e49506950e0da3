/** Building a table from route definitions: which failures drop a route, and with which reason. */
import { describe, expect, test } from "bun:test";
import { parse } from "../../src/eskip/index.ts";
import type { FilterSpec } from "../../src/filters/types.ts";
import { builtinPredicateRegistry } from "../../src/predicates/builtin.ts";
import type { PredicateSpec } from "../../src/predicates/types.ts";
import { buildTable, buildTableAsync, type Registries } from "../../src/routing/build.ts";
import { readArgs } from "../../src/util/args.ts";
import { request } from "../predicates/request.ts";

/**
 * Filters `ok()`, `needsOne(x)` (argument checked by the real reader) and `buggy()`, a spec that
 * throws a TypeError; the built-in predicates plus `Buggy()`, which throws one too.
 */
function fakeRegistries(): Registries {
  const filters = new Map<string, FilterSpec>([
    ["ok", { name: "ok", create: () => ({}) }],
    ["needsOne", { name: "needsOne", create: (args) => (readArgs("needsOne", args).count(1), {}) }],
    ["buggy", { name: "buggy", create: () => { throw new TypeError("cannot read properties of undefined"); } }],
  ]);
  const predicates = new Map<string, PredicateSpec>([
    ["Buggy", { name: "Buggy", create: () => { throw new TypeError("predicate bug"); } }],
  ]);
  const builtin = builtinPredicateRegistry();
  return { filters, predicates: { get: (name) => predicates.get(name) ?? builtin.get(name) } };
}

const problemsOf = (eskip: string) => buildTable(parse(eskip), fakeRegistries()).problems.map(({ id, reason, message }) => ({ id, reason, message }));

describe("a spec that throws", () => {
  test("an argument error is invalid params, as in Skipper", () => {
    expect(problemsOf(`r: * -> needsOne() -> <shunt>;`)).toEqual([
      { id: "r", reason: "invalid_filter_params", message: "needsOne: expects 1 argument, got 0" },
    ]);
  });

  test("any other error is an internal error naming the spec and the error", () => {
    expect(problemsOf(`f: * -> ok() -> buggy() -> <shunt>; p: Buggy() -> <shunt>; fine: * -> ok() -> <shunt>;`)).toEqual([
      { id: "f", reason: "internal_error", message: 'internal error in filter "buggy": TypeError: cannot read properties of undefined' },
      { id: "p", reason: "internal_error", message: 'internal error in predicate "Buggy": TypeError: predicate bug' },
    ]);
    expect(buildTable(parse(`fine: * -> ok() -> <shunt>;`), fakeRegistries()).routes.map((r) => r.id)).toEqual(["fine"]);
  });
});

describe("load balancer algorithms", () => {
  test.each(["toString", "constructor", "__proto__", "hasOwnProperty", "noSuch"])("%s is not an algorithm", (name) => {
    const table = buildTable(parse(`r: * -> <${name}, "http://a", "http://b">;`), fakeRegistries());
    expect(table.routes).toEqual([]);
    expect(table.problems.map(({ id, reason, message, loc }) => ({ id, reason, message, loc }))).toEqual([
      {
        id: "r",
        reason: "failed_backend_split",
        message: `unsupported algorithm "${name}" (supported: roundRobin, random, consistentHash, powerOfRandomNChoices)`,
        loc: { line: 1, column: 1 },
      },
    ]);
  });

  test("the known ones build", () => {
    const eskip = ["roundRobin", "random", "consistentHash", "powerOfRandomNChoices"].map((a, i) => `r${i}: * -> <${a}, "http://a", "http://b">;`).join("\n");
    expect(buildTable(parse(eskip), fakeRegistries()).problems).toEqual([]);
  });
});

describe("buildTableAsync", () => {
  const eskip = Array.from({ length: 1_000 }, (_, i) => `r${i}: Path("/r${i}") -> ok() -> <shunt>;`).join("\n");

  /** How many macrotasks got to run while `work` ran. */
  async function macrotasksDuring(work: () => unknown): Promise<number> {
    let ticks = 0;
    let running = true;
    const spin = () => {
      ticks++;
      if (running) setImmediate(spin);
    };
    setImmediate(spin);
    await work();
    running = false;
    return ticks;
  }

  test("lets the event loop run every yieldEvery routes, and builds what buildTable builds", async () => {
    let table: ReturnType<typeof buildTable> | undefined;
    const ticks = await macrotasksDuring(async () => (table = await buildTableAsync(parse(eskip), fakeRegistries(), { yieldEvery: 100 })));
    expect(ticks).toBeGreaterThanOrEqual(9);
    const sync = buildTable(parse(eskip), fakeRegistries());
    expect(table!.routes).toHaveLength(1_000);
    expect(table!.routes.map((r) => r.id)).toEqual(sync.routes.map((r) => r.id));
    expect(table!.match(request({ path: "/r500" }))?.value.id).toBe("r500");
  });

  test("buildTable runs in one go", async () => {
    expect(await macrotasksDuring(() => buildTable(parse(eskip), fakeRegistries()))).toBe(0);
  });
});
