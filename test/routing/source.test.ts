/**
 * The routes source's polling: rounds never overlap (an older read is never applied after a newer
 * one), asks during a round share one follow-up, and an unexpected error is logged, not thrown.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { builtinFilterRegistry } from "../../src/filters/builtin.ts";
import type { FilterSpec } from "../../src/filters/types.ts";
import { builtinPredicateRegistry } from "../../src/predicates/builtin.ts";
import type { Registries } from "../../src/routing/build.ts";
import { RouteSource } from "../../src/routing/source.ts";
import { NO_SECRETS } from "../../src/secrets/index.ts";
import { capturedLog } from "../secrets/helpers.ts";

const FILE = "/routes.eskip";

/** A routes file whose reads the test answers one by one. */
class ScriptedFile {
  readonly pending: PromiseWithResolvers<string | undefined>[] = [];
  /** answered at once, while set (for the load) */
  text: string | undefined;

  read = (_file: string): Promise<string | undefined> => {
    if (this.text !== undefined) return Promise.resolve(this.text);
    const read = Promise.withResolvers<string | undefined>();
    this.pending.push(read);
    return read.promise;
  };

  /** Answers the oldest read still open. */
  answer(text: string | undefined): void {
    this.pending.shift()!.resolve(text);
  }
}

const closed: string[] = [];
const tracked: FilterSpec = {
  name: "tracked",
  create: (args) => ({ close: () => void closed.push(String(args[0])) }),
};

function registries(): Registries {
  const filters = builtinFilterRegistry({ secrets: NO_SECRETS });
  return {
    filters: {
      get(name) {
        if (name === "explode") throw new Error("boom");
        return name === "tracked" ? tracked : filters.get(name);
      },
    },
    predicates: builtinPredicateRegistry(),
  };
}

async function load(file: ScriptedFile, text: string, pollMs = 60_000) {
  const logs = capturedLog();
  file.text = text;
  const source = await RouteSource.load({ inlineRoutes: "", files: [FILE], pollMs, registries: registries(), log: logs.log, read: file.read });
  file.text = undefined;
  logs.take();
  return { source, logs, ids: () => source.table.routes.map((r) => r.id) };
}

const flush = () => new Promise((resolve) => setTimeout(resolve, 0));

afterEach(() => void closed.splice(0));

describe("polls never overlap", () => {
  test("a poll asked for during one waits for it, so an older read is never applied last", async () => {
    const file = new ScriptedFile();
    const { source, ids } = await load(file, "start: * -> <shunt>;");
    const first = source.poll();
    const second = source.poll();
    await flush();
    // Only the first round reads; the second has not started.
    expect(file.pending.length).toBe(1);
    file.answer("old: * -> <shunt>;");
    expect(await first).toBe(true);
    expect(ids()).toEqual(["old"]);
    await flush();
    expect(file.pending.length).toBe(1);
    file.answer("new: * -> <shunt>;");
    expect(await second).toBe(true);
    expect(ids()).toEqual(["new"]);
    expect(file.pending.length).toBe(0);
  });

  test("asks during a round share one follow-up round", async () => {
    const file = new ScriptedFile();
    const { source, ids } = await load(file, "start: * -> <shunt>;");
    const first = source.poll();
    const followUps = [source.poll(), source.poll(), source.poll()];
    expect(followUps[1]).toBe(followUps[0]!);
    expect(followUps[2]).toBe(followUps[0]!);
    await flush();
    file.answer("a: * -> <shunt>;");
    await first;
    await flush();
    file.answer("b: * -> <shunt>;");
    expect(await Promise.all(followUps)).toEqual([true, true, true]);
    expect(ids()).toEqual(["b"]);
    // Nothing else was read, and the next poll starts a round of its own.
    expect(file.pending.length).toBe(0);
    const next = source.poll();
    await flush();
    file.answer("b: * -> <shunt>;");
    expect(await next).toBe(false);
  });
});

describe("an unexpected error is logged, the previous table keeps serving", () => {
  test.each<{ name: string; answer: (file: ScriptedFile) => void; message: string }>([
    {
      name: "building the table throws",
      answer: (file) => file.answer('x: * -> explode() -> <shunt>;'),
      message: "error error while polling routes; keeping the previous routes: boom",
    },
    {
      name: "the read itself rejects",
      answer: (file) => file.pending.shift()!.reject(new Error("disk on fire")),
      message: "error error while polling routes; keeping the previous routes: disk on fire",
    },
  ])("$name: poll resolves false", async ({ answer, message }) => {
    const file = new ScriptedFile();
    const { source, logs, ids } = await load(file, "start: * -> <shunt>;");
    const polled = source.poll();
    await flush();
    answer(file);
    expect(await polled).toBe(false);
    expect(ids()).toEqual(["start"]);
    expect(logs.take()).toEqual([message]);
    // The next round runs normally.
    const next = source.poll();
    await flush();
    file.answer("later: * -> <shunt>;");
    expect(await next).toBe(true);
    expect(ids()).toEqual(["later"]);
  });

  test("the interval's rounds log errors and keep going", async () => {
    let reads = 0;
    const logs = capturedLog();
    const source = await RouteSource.load({
      inlineRoutes: "",
      files: [FILE],
      pollMs: 5,
      registries: registries(),
      log: logs.log,
      read: () => (reads++ === 0 ? Promise.resolve("start: * -> <shunt>;") : Promise.reject(new Error("flaky"))),
    });
    logs.take();
    source.watch();
    try {
      while (reads < 4) await new Promise((resolve) => setTimeout(resolve, 5));
    } finally {
      source.stop();
    }
    await flush();
    const lines = logs.take();
    expect(lines.length).toBeGreaterThanOrEqual(2);
    expect(new Set(lines)).toEqual(new Set(["error error while polling routes; keeping the previous routes: flaky"]));
    expect(source.table.routes.map((r) => r.id)).toEqual(["start"]);
  });
});

test("a new table closes the filters of the one it replaces", async () => {
  const file = new ScriptedFile();
  const { source } = await load(file, 'a: * -> tracked("a1") -> tracked("a2") -> <shunt>;');
  const polled = source.poll();
  await flush();
  file.answer('b: * -> tracked("b") -> <shunt>;');
  await polled;
  expect(closed).toEqual(["a1", "a2"]);
});
