/**
 * Routes files on a real file system: what counts as gone, what keeps the last good routes, and
 * that a FIFO in the file's place is refused instead of hanging the poll.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdir, mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { builtinFilterRegistry } from "../../src/filters/builtin.ts";
import { builtinPredicateRegistry } from "../../src/predicates/builtin.ts";
import { RouteSource } from "../../src/routing/source.ts";
import { readTextFile } from "../../src/util/read-file.ts";
import { NO_SECRETS } from "../../src/secrets/index.ts";
import { capturedLog } from "../secrets/helpers.ts";
import { FakeClock } from "../support/clock.ts";
import { makeFifo, withoutHanging } from "./fifo.ts";

const dirs: string[] = [];
afterAll(() => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));

async function tempPath(name: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "sallyport-routes-file-"));
  dirs.push(dir);
  return join(dir, name);
}

describe("readTextFile", () => {
  test("reads a regular file", async () => {
    const path = await tempPath("routes.eskip");
    await writeFile(path, "a: * -> <shunt>;\n");
    expect(await readTextFile(path)).toBe("a: * -> <shunt>;\n");
  });

  test.each<[string, (path: string) => Promise<void>, string]>([
    ["a missing file", async () => {}, "ENOENT"],
    ["a directory", (path) => mkdir(path), "not a regular file"],
    ["a symlink loop", (path) => symlink(path, path), "ELOOP"],
  ])("%s rejects", async (_name, make, reason) => {
    const path = await tempPath("routes.eskip");
    await make(path);
    const error = await readTextFile(path).catch((e: NodeJS.ErrnoException) => e.code ?? e.message);
    expect(error).toBe(reason);
  });

  test("a FIFO is refused as not a regular file, without waiting for a writer", async () => {
    const path = await tempPath("fifo");
    await makeFifo(path);
    const result = await withoutHanging(path, () => readTextFile(path).catch((e: Error) => e.message));
    expect(result).toBe("not a regular file");
  });
});

describe("a routes file replaced by something unreadable", () => {
  async function serving(text: string) {
    const path = await tempPath("routes.eskip");
    await writeFile(path, text);
    const logs = capturedLog();
    const registries = { filters: builtinFilterRegistry({ secrets: NO_SECRETS }), predicates: builtinPredicateRegistry() };
    const source = await RouteSource.load({ inlineRoutes: "", files: [path], pollMs: 1_000, registries, log: logs.log, clock: new FakeClock() });
    logs.take();
    return { path, source, logs, ids: () => source.table.routes.map((r) => r.id) };
  }

  test("a FIFO: the poll ends, the routes stay, the reason is logged", async () => {
    const { path, source, logs, ids } = await serving("a: * -> <shunt>;\n");
    await rm(path);
    await makeFifo(path);
    expect(await withoutHanging(path, () => source.poll())).toBe(false);
    expect(ids()).toEqual(["a"]);
    expect(logs.take()).toEqual([`error error while reading routes file ${path}: not a regular file; keeping the previous routes`]);
  });

  test("a directory keeps the routes; removing it takes them", async () => {
    const { path, source, logs, ids } = await serving("a: * -> <shunt>;\n");
    await rm(path);
    await mkdir(path);
    expect(await source.poll()).toBe(false);
    expect(ids()).toEqual(["a"]);
    await rm(path, { recursive: true });
    expect(await source.poll()).toBe(true);
    expect(ids()).toEqual([]);
    expect(logs.take()).toEqual([
      `error error while reading routes file ${path}: not a regular file; keeping the previous routes`,
      `warning routes file ${path} is gone; its routes are removed`,
      "info route settings applied, 0 routes, 0 invalid",
    ]);
  });

  test("a FIFO at startup is fatal, and the load does not hang", async () => {
    const path = await tempPath("fifo");
    await makeFifo(path);
    const registries = { filters: builtinFilterRegistry({ secrets: NO_SECRETS }), predicates: builtinPredicateRegistry() };
    const load = RouteSource.load({ inlineRoutes: "", files: [path], pollMs: 1_000, registries, log: capturedLog().log });
    const outcome = await withoutHanging(path, () => load.then(() => "loaded", (e: Error) => e.message));
    expect(outcome).toBe(`${path}: cannot read routes file: not a regular file`);
  });
});
