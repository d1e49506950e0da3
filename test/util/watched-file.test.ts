/**
 * A watched file on a real temp directory with fake timers: the start read and its errors,
 * onChange only on a change, read errors later keeping the last text (logged once per kind),
 * and polls that never overlap.
 */
import { describe, expect, test } from "bun:test";
import { mkdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { WatchedFile, type WatchedFileOptions } from "../../src/util/watched-file.ts";
import { makeFifo, withoutHanging } from "../routing/fifo.ts";
import { capturedLog, tempDir } from "../secrets/helpers.ts";
import { FakeClock } from "../support/clock.ts";

const POLL = 1_000;

/** Opens `path` (with `text` written there first, unless undefined) and starts polling it. */
async function watching(path: string, text: string | undefined, options: Partial<WatchedFileOptions> = {}) {
  if (text !== undefined) await writeFile(path, text);
  const clock = new FakeClock();
  const logs = capturedLog();
  const changes: string[] = [];
  const file = await WatchedFile.open({ path, pollMs: POLL, clock, log: logs.log, label: "test list", onChange: (t) => void changes.push(t), ...options });
  file.start();
  return { file, clock, logs, changes, [Symbol.dispose]: () => file.stop() };
}

describe("at start", () => {
  test("reads the text; no timer runs before start()", async () => {
    await using tmp = await tempDir("sallyport-watched-");
    const path = join(tmp.path, "list");
    await writeFile(path, "a\nb\n");
    const clock = new FakeClock();
    const file = await WatchedFile.open({ path, pollMs: POLL, clock, log: capturedLog().log, onChange: () => {} });
    expect(file.text).toBe("a\nb\n");
    expect(clock.pending).toBe(0);
    file.start();
    file.start();
    expect(clock.pending).toBe(1);
    file.stop();
    expect(clock.pending).toBe(0);
  });

  test.each<[string, (path: string) => Promise<unknown>, string]>([
    ["a missing file", async () => {}, "ENOENT"],
    ["a directory", (path) => mkdir(path), "not a regular file"],
  ])("%s is an error naming the file and why", async (_name, make, why) => {
    await using tmp = await tempDir("sallyport-watched-");
    const path = join(tmp.path, "list");
    await make(path);
    const open = WatchedFile.open({ path, pollMs: POLL, log: capturedLog().log, label: "egress allow list", onChange: () => {} });
    await expect(open).rejects.toThrow(`egress allow list ${path}: cannot read: ${why}`);
  });

  test("a FIFO is refused without waiting for a writer", async () => {
    await using tmp = await tempDir("sallyport-watched-");
    const path = join(tmp.path, "fifo");
    await makeFifo(path);
    const result = await withoutHanging(path, () => WatchedFile.open({ path, pollMs: POLL, log: capturedLog().log, onChange: () => {} }).catch((e: Error) => e.message));
    expect(result).toBe(`file ${path}: cannot read: not a regular file`);
  });
});

describe("polling", () => {
  test("onChange only when the text changed, once per change, every pollMs", async () => {
    await using tmp = await tempDir("sallyport-watched-");
    const path = join(tmp.path, "list");
    using w = await watching(path, "one\n");
    await writeFile(path, "two\n");
    await w.clock.advance(POLL - 1);
    expect(w.changes).toEqual([]);
    await w.clock.advance(1);
    expect(w.changes).toEqual(["two\n"]);
    expect(w.file.text).toBe("two\n");
    await w.clock.advance(3 * POLL);
    expect(w.changes).toEqual(["two\n"]);
    await writeFile(path, "one\n");
    await w.clock.advance(POLL);
    expect(w.changes).toEqual(["two\n", "one\n"]);
    expect(w.logs.take()).toEqual([]);
  });

  test("a read error keeps the last text and is logged once per kind until a read succeeds", async () => {
    await using tmp = await tempDir("sallyport-watched-");
    const path = join(tmp.path, "list");
    using w = await watching(path, "one\n");
    await rm(path);
    await w.clock.advance(3 * POLL);
    expect(w.logs.take()).toEqual([`warning cannot read test list ${path}: ENOENT; keeping its previous content`]);
    await mkdir(path);
    await w.clock.advance(3 * POLL);
    expect(w.logs.take()).toEqual([`warning cannot read test list ${path}: not a regular file; keeping its previous content`]);
    expect(w.file.text).toBe("one\n");
    expect(w.changes).toEqual([]);

    // Back with the same text: nothing changed, so nothing to apply.
    await rm(path, { recursive: true });
    await writeFile(path, "one\n");
    await w.clock.advance(POLL);
    expect(w.logs.take()).toEqual([`info test list ${path} is readable again`]);
    expect(w.changes).toEqual([]);

    // Failing again after a success is news again.
    await rm(path);
    await w.clock.advance(POLL);
    expect(w.logs.take()).toEqual([`warning cannot read test list ${path}: ENOENT; keeping its previous content`]);
    await writeFile(path, "two\n");
    await w.clock.advance(POLL);
    expect(w.changes).toEqual(["two\n"]);
  });

  test("an onChange that throws is logged; the text counts as seen and polling goes on", async () => {
    await using tmp = await tempDir("sallyport-watched-");
    const path = join(tmp.path, "list");
    const seen: string[] = [];
    using w = await watching(path, "one\n", {
      onChange: (text) => {
        seen.push(text);
        if (text === "bad\n") throw new Error("boom");
      },
    });
    await writeFile(path, "bad\n");
    await w.clock.advance(3 * POLL);
    expect(w.logs.take()).toEqual([`error error while applying test list ${path}: boom`]);
    await writeFile(path, "good\n");
    await w.clock.advance(POLL);
    expect(seen).toEqual(["bad\n", "good\n"]);
  });

  test("the next poll is scheduled only after onChange finished; stop() ends polling", async () => {
    await using tmp = await tempDir("sallyport-watched-");
    const path = join(tmp.path, "list");
    const entered = Promise.withResolvers<void>();
    const release = Promise.withResolvers<void>();
    using w = await watching(path, "one\n", {
      onChange: () => {
        entered.resolve();
        return release.promise;
      },
    });
    await writeFile(path, "two\n");
    const advancing = w.clock.advance(POLL);
    await entered.promise;
    expect(w.clock.pending).toBe(0);
    release.resolve();
    await advancing;
    expect(w.clock.pending).toBe(1);
    w.file.stop();
    expect(w.clock.pending).toBe(0);
    await writeFile(path, "three\n");
    await w.clock.advance(3 * POLL);
    expect(w.file.text).toBe("two\n");
  });
});
