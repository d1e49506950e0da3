/**
 * The routes source: polling (rounds never overlap, asks during a round share one follow-up, the
 * timer runs on the clock and schedules the next round after the current one), read errors (only
 * ENOENT/ENOTDIR mean gone), routes that turn invalid (their previous version serves on),
 * duplicate ids, and unexpected errors (logged, not thrown). Time moves only on a FakeClock.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { builtinFilterRegistry } from "../../src/filters/builtin.ts";
import type { FilterSpec } from "../../src/filters/types.ts";
import { builtinPredicateRegistry } from "../../src/predicates/builtin.ts";
import type { Registries } from "../../src/routing/build.ts";
import { RouteSource, RouteSourceError, type RouteSourceOptions } from "../../src/routing/source.ts";
import { NO_SECRETS } from "../../src/secrets/index.ts";
import { capturedLog } from "../secrets/helpers.ts";
import { request } from "../predicates/request.ts";
import { FakeClock } from "../support/clock.ts";

const FILE = "/routes.eskip";

/** A Node-style system error, as fs rejects with. */
const systemError = (code: string) => Object.assign(new Error(`${code}: scripted`), { code });

/** A routes file whose reads the test answers one by one. */
class ScriptedFile {
  readonly pending: PromiseWithResolvers<string>[] = [];
  /** answered at once, while set (for the load) */
  text: string | undefined;
  #onRead: (() => void) | undefined;

  read = (_file: string): Promise<string> => {
    if (this.text !== undefined) return Promise.resolve(this.text);
    const read = Promise.withResolvers<string>();
    this.pending.push(read);
    this.#onRead?.();
    return read.promise;
  };

  /** Answers the oldest read still open (waiting for one to open): its text, or a read error. */
  async answer(reply: string | Error): Promise<void> {
    while (this.pending.length === 0) await new Promise<void>((resolve) => (this.#onRead = resolve));
    const read = this.pending.shift()!;
    if (typeof reply === "string") read.resolve(reply);
    else read.reject(reply);
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

const POLL_MS = 1_000;

async function load(file: ScriptedFile, text: string, options: Partial<RouteSourceOptions> = {}) {
  const logs = capturedLog();
  const clock = new FakeClock(false, 0);
  file.text = text;
  const source = await RouteSource.load({ inlineRoutes: "", files: [FILE], pollMs: POLL_MS, registries: registries(), log: logs.log, read: file.read, clock, ...options });
  file.text = undefined;
  logs.take();
  return { source, logs, clock, ids: () => source.table.routes.map((r) => r.id) };
}

/** Lets pending I/O callbacks and promise reactions run: one turn of the event loop, not a wait on time. */
const settle = () => new Promise((resolve) => setImmediate(resolve));

afterEach(() => void closed.splice(0));

describe("polls never overlap", () => {
  test("a poll asked for during one waits for it, so an older read is never applied last", async () => {
    const file = new ScriptedFile();
    const { source, ids } = await load(file, "start: * -> <shunt>;");
    const first = source.poll();
    const second = source.poll();
    await settle();
    // Only the first round reads; the second has not started.
    expect(file.pending.length).toBe(1);
    await file.answer("old: * -> <shunt>;");
    expect(await first).toBe(true);
    expect(ids()).toEqual(["old"]);
    await file.answer("new: * -> <shunt>;");
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
    await file.answer("a: * -> <shunt>;");
    await first;
    await file.answer("b: * -> <shunt>;");
    expect(await Promise.all(followUps)).toEqual([true, true, true]);
    expect(ids()).toEqual(["b"]);
    // Nothing else was read, and the next poll starts a round of its own.
    expect(file.pending.length).toBe(0);
    const next = source.poll();
    await file.answer("b: * -> <shunt>;");
    expect(await next).toBe(false);
  });
});

describe("the poll timer runs on the clock", () => {
  test("the next poll is scheduled only after the current one ended", async () => {
    const file = new ScriptedFile();
    const { source, clock, ids } = await load(file, "start: * -> <shunt>;");
    source.watch();
    expect(clock.pending).toBe(1);
    const tick = clock.advance(POLL_MS);
    await settle();
    expect(file.pending.length).toBe(1);
    // While the read is open no other poll is due, however long it takes.
    expect(clock.pending).toBe(0);
    await file.answer("a: * -> <shunt>;");
    await tick;
    expect(ids()).toEqual(["a"]);
    expect(clock.pending).toBe(1);
    source.stop();
    expect(clock.pending).toBe(0);
  });

  test("stop() during a poll ends the chain; no poll is scheduled after it", async () => {
    const file = new ScriptedFile();
    const { source, clock } = await load(file, "start: * -> <shunt>;");
    source.watch();
    const tick = clock.advance(POLL_MS);
    await settle();
    source.stop();
    await file.answer("a: * -> <shunt>;");
    await tick;
    expect(clock.pending).toBe(0);
  });
});

describe("an unexpected error is logged, the previous table keeps serving", () => {
  test("building the table throws: poll resolves false, the next round runs normally", async () => {
    const file = new ScriptedFile();
    const { source, logs, ids } = await load(file, "start: * -> <shunt>;");
    const polled = source.poll();
    await file.answer("x: * -> explode() -> <shunt>;");
    expect(await polled).toBe(false);
    expect(ids()).toEqual(["start"]);
    expect(logs.take()).toEqual(["error error while polling routes; keeping the previous routes: boom"]);
    const next = source.poll();
    await file.answer("later: * -> <shunt>;");
    expect(await next).toBe(true);
    expect(ids()).toEqual(["later"]);
  });

  test("timer rounds that fail are logged and the timer keeps going", async () => {
    const file = new ScriptedFile();
    const { source, clock, logs, ids } = await load(file, "start: * -> <shunt>;");
    source.watch();
    for (let round = 0; round < 3; round++) {
      const tick = clock.advance(POLL_MS);
      await file.answer(`x${round}: * -> explode() -> <shunt>;`);
      await tick;
    }
    source.stop();
    expect(logs.take()).toEqual(Array(3).fill("error error while polling routes; keeping the previous routes: boom"));
    expect(ids()).toEqual(["start"]);
  });
});

describe("read errors", () => {
  test.each(["EACCES", "EISDIR", "ELOOP", "EMFILE", "not a regular file"])("%s keeps the file's routes and is logged once", async (code) => {
    const file = new ScriptedFile();
    const { source, logs, ids } = await load(file, "start: * -> <shunt>;");
    for (let round = 0; round < 3; round++) {
      const polled = source.poll();
      await file.answer(code.startsWith("E") ? systemError(code) : new Error(code));
      expect(await polled).toBe(false);
    }
    expect(ids()).toEqual(["start"]);
    expect(logs.take()).toEqual([`error error while reading routes file ${FILE}: ${code}; keeping the previous routes`]);
  });

  test("a different error is logged again, and after a good read the same error is news again", async () => {
    const file = new ScriptedFile();
    const { source, logs, ids } = await load(file, "start: * -> <shunt>;");
    const answers = [systemError("EMFILE"), systemError("EACCES"), "start: * -> <shunt>;", systemError("EMFILE")];
    for (const answer of answers) {
      const polled = source.poll();
      await file.answer(answer);
      await polled;
    }
    expect(ids()).toEqual(["start"]);
    expect(logs.take()).toEqual([
      `error error while reading routes file ${FILE}: EMFILE; keeping the previous routes`,
      `error error while reading routes file ${FILE}: EACCES; keeping the previous routes`,
      `error error while reading routes file ${FILE}: EMFILE; keeping the previous routes`,
    ]);
  });

  test.each(["ENOENT", "ENOTDIR"])("%s means the file is gone: its routes go, once", async (code) => {
    const file = new ScriptedFile();
    const { source, logs, ids } = await load(file, "start: * -> <shunt>;");
    let polled = source.poll();
    await file.answer(systemError(code));
    expect(await polled).toBe(true);
    expect(ids()).toEqual([]);
    polled = source.poll();
    await file.answer(systemError(code));
    expect(await polled).toBe(false);
    expect(logs.take()).toEqual([`warning routes file ${FILE} is gone; its routes are removed`, "info route settings applied, 0 routes, 0 invalid"]);
    // When it comes back, its routes do too.
    polled = source.poll();
    await file.answer("start: * -> <shunt>;");
    expect(await polled).toBe(true);
    expect(ids()).toEqual(["start"]);
  });

  test("at startup any read error is fatal and names the code", async () => {
    const load = RouteSource.load({
      inlineRoutes: "",
      files: [FILE],
      pollMs: POLL_MS,
      registries: registries(),
      log: capturedLog().log,
      read: () => Promise.reject(systemError("EACCES")),
    });
    await expect(load).rejects.toThrow(new RouteSourceError(`${FILE}: cannot read routes file: EACCES`));
  });
});

test("a new table closes the filters of the one it replaces", async () => {
  const file = new ScriptedFile();
  const { source } = await load(file, 'a: * -> tracked("a1") -> tracked("a2") -> <shunt>;');
  const polled = source.poll();
  await file.answer('b: * -> tracked("b") -> <shunt>;');
  await polled;
  expect(closed).toEqual(["a1", "a2"]);
});

describe("a route that turns invalid on reload", () => {
  /** Loads `before`, polls once with `after`, and returns what serves and what was logged. */
  async function reload(before: string, after: string) {
    const file = new ScriptedFile();
    const loaded = await load(file, before);
    const polled = loaded.source.poll();
    await file.answer(after);
    await polled;
    return { ...loaded, eskip: loaded.source.table.toEskip(), lines: loaded.logs.take() };
  }

  test("keeps serving its previous version, logged at the new definition and counted", async () => {
    const { source, ids, eskip, lines } = await reload(
      'a: Path("/a") -> setPath("/one") -> <shunt>;\nb: Path("/b") -> <shunt>;\nc: Path("/c") -> <shunt>;',
      'a: Path("/a") -> setPaht("/two") -> <shunt>;\nb: Path("/b") -> <shunt>;\nc: Path("/c") -> <shunt>;',
    );
    expect(ids()).toEqual(["a", "b", "c"]);
    expect(eskip).toContain('setPath("/one")');
    expect(source.invalidKept).toBe(1);
    expect(source.table.problems.map((p) => [p.id, p.reason, p.kept])).toEqual([["a", "unknown_filter", true]]);
    expect(lines).toEqual([
      `error ${FILE}:1:18: failed to process route a: unknown_filter: unknown filter "setPaht"; its previous version keeps serving`,
      "info route settings applied, 3 routes, 1 invalid (1 kept from the previous table)",
    ]);
  });

  test("a new route that is invalid is skipped, as before", async () => {
    const { source, ids, lines } = await reload("a: * -> <shunt>;", 'a: * -> <shunt>;\nnew: Path("/n") -> noSuch() -> <shunt>;');
    expect(ids()).toEqual(["a"]);
    expect(source.invalidKept).toBe(0);
    expect(lines).toEqual([
      `error ${FILE}:2:20: failed to process route new: unknown_filter: unknown filter "noSuch"`,
      "info route settings applied, 1 routes, 1 invalid",
    ]);
  });

  test("a route removed from the file goes, even when its last version was kept", async () => {
    const file = new ScriptedFile();
    const { source, ids } = await load(file, 'a: * -> setPath("/a") -> <shunt>;\nb: Path("/b") -> <shunt>;');
    for (const [text, expected, kept] of [
      ['a: * -> typo() -> <shunt>;\nb: Path("/b") -> <shunt>;', ["a", "b"], 1],
      ['a: * -> typo() -> <shunt>;\nb: Path("/b") -> <shunt>;\n', ["a", "b"], 1], // still invalid: still the old one
      ['b: Path("/b") -> <shunt>;', ["b"], 0],
    ] as const) {
      const polled = source.poll();
      await file.answer(text);
      await polled;
      expect(ids()).toEqual([...expected]);
      expect(source.invalidKept).toBe(kept);
    }
  });

  test("one the matcher refuses keeps its previous version too", async () => {
    const { source, ids, eskip } = await reload('a: Path("/a/:x") -> <shunt>;', 'a: Path("/a/*rest/more") -> <shunt>;');
    expect(ids()).toEqual(["a"]);
    expect(eskip).toContain('Path("/a/:x")');
    expect(source.table.problems.map((p) => [p.reason, p.kept])).toEqual([["invalid_matcher", true]]);
    expect(source.table.match(request({ path: "/a/1" }))?.value.id).toBe("a");
  });

  test("the new table closes the filters of the invalid version, and the kept version has its own", async () => {
    const file = new ScriptedFile();
    const { source } = await load(file, 'a: * -> tracked("old") -> <shunt>;');
    const polled = source.poll();
    await file.answer('a: * -> tracked("new") -> typo() -> <shunt>;');
    await polled;
    // "new" is closed with the failed build, "old" with the replaced table; a fresh "old" serves.
    expect(closed.sort()).toEqual(["new", "old"]);
    expect(source.table.routes[0]!.filters.map((f) => f.name)).toEqual(["tracked"]);
  });
});

describe("duplicate route ids", () => {
  test("the last definition serves; every duplicate is logged with both places", async () => {
    const logs = capturedLog();
    const source = await RouteSource.load({
      inlineRoutes: 'x: Path("/inline") -> <shunt>;',
      files: [FILE],
      pollMs: POLL_MS,
      registries: registries(),
      log: logs.log,
      read: () => Promise.resolve('x: Path("/one") -> <shunt>;\ny: * -> <shunt>;\n  x: Path("/two") -> <shunt>;'),
      clock: new FakeClock(),
    });
    expect(source.table.routes.map((r) => r.id)).toEqual(["y", "x"]);
    expect(source.table.toEskip()).toContain('Path("/two")');
    expect(logs.take()).toEqual([
      `error ${FILE}:1:1: duplicate route id "x" (also defined at -inline-routes:1:1); the last definition serves`,
      `error ${FILE}:3:3: duplicate route id "x" (also defined at ${FILE}:1:1); the last definition serves`,
      "info route settings applied, 2 routes, 0 invalid",
    ]);
  });
});
