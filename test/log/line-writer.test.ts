import { afterEach, beforeEach, expect, test } from "bun:test";
import { mkdtemp, readdir, readFile, rename, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FLUSH_MS, openLineWriter as open, type LineWriter, type LineWriterOptions } from "../../src/log/line-writer.ts";
import { FakeClock } from "../support/clock.ts";

let dir: string;
let path: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "sallyport-line-writer-"));
  path = join(dir, "access.log");
});
/** every writer a test opened is closed after it, even when it failed half-way */
const opened: LineWriter[] = [];
const openLineWriter = async (options: LineWriterOptions) => {
  const out = await open(options);
  opened.push(out);
  return out;
};
afterEach(async () => {
  await Promise.all(opened.splice(0).map((out) => out.close()));
  await rm(dir, { recursive: true, force: true });
});

const contents = (file: string) => readFile(file, "utf8");

test("lines wait for their batch: nothing is written until FLUSH_MS after the first, then all in order", async () => {
  const clock = new FakeClock();
  const out = await openLineWriter({ path, clock });
  out.write("one\n");
  await clock.advance(FLUSH_MS / 2);
  out.write("two\n");
  expect(await contents(path)).toBe("");
  await clock.advance(FLUSH_MS / 2);
  expect(await contents(path)).toBe("one\ntwo\n");
  expect(clock.pending).toBe(0);
  await out.close();
});

test("a full batch is written without waiting for the timer", async () => {
  const clock = new FakeClock();
  const out = await openLineWriter({ path, clock, batchBytes: 10 });
  out.write("12345\n");
  out.write("67890\n");
  await out.flush(); // the batch is in flight already; flush waits for it
  expect(await contents(path)).toBe("12345\n67890\n");
  await out.close();
});

test("the file is appended to, never truncated", async () => {
  await Bun.write(path, "before\n");
  const out = await openLineWriter({ path, clock: new FakeClock() });
  out.write("after\n");
  await out.close();
  expect(await contents(path)).toBe("before\nafter\n");
});

test("close() writes every queued line, cancels the timer, and drops (counts) later lines", async () => {
  const clock = new FakeClock();
  const out = await openLineWriter({ path, clock });
  for (let i = 0; i < 3; i++) out.write(`${i}\n`);
  await out.close();
  expect(await contents(path)).toBe("0\n1\n2\n");
  expect(clock.pending).toBe(0);
  out.write("late\n");
  expect(out.dropped).toBe(1);
  await clock.advance(FLUSH_MS);
  expect(await contents(path)).toBe("0\n1\n2\n");
});

test("reopen after logrotate's rename: queued lines go to the renamed file, later ones to a fresh file at the path", async () => {
  const clock = new FakeClock();
  const out = await openLineWriter({ path, clock });
  out.write("old 1\n");
  await out.flush();
  out.write("old 2\n"); // queued, not yet written, when the file is renamed
  await rename(path, `${path}.1`);
  await out.reopen();
  out.write("new 1\n");
  await out.close();
  expect(await contents(`${path}.1`)).toBe("old 1\nold 2\n");
  expect(await contents(path)).toBe("new 1\n");
});

test.skipIf(process.platform !== "linux")("reopen closes the file it replaces: rotation after rotation holds one descriptor", async () => {
  const openFds = async () => (await readdir("/proc/self/fd")).length;
  const out = await openLineWriter({ path, clock: new FakeClock() });
  const before = await openFds();
  for (let i = 0; i < 5; i++) {
    await rename(path, `${path}.${i}`);
    await out.reopen();
  }
  expect(await openFds()).toBe(before);
});

test("a reopen that fails keeps writing to the file open before, and says so", async () => {
  const warnings: string[] = [];
  const out = await openLineWriter({ path, clock: new FakeClock(), warn: (m) => warnings.push(m) });
  await rename(dir, `${dir}.moved`);
  try {
    await out.reopen();
    out.write("still logged\n");
    await out.close();
    expect(await contents(join(`${dir}.moved`, "access.log"))).toBe("still logged\n");
    expect(warnings).toEqual(["log file not reopened, writing on to the old one: ENOENT"]);
  } finally {
    await rename(`${dir}.moved`, dir);
  }
});

test("a file that cannot be opened fails the open", async () => {
  await expect(openLineWriter({ path: join(dir, "missing", "access.log"), clock: new FakeClock() })).rejects.toMatchObject({ code: "ENOENT" });
});

test("past maxBufferedBytes unwritten, lines are dropped and counted, with one warning", async () => {
  const warnings: string[] = [];
  const out = await openLineWriter({ path, clock: new FakeClock(), maxBufferedBytes: 10, warn: (m) => warnings.push(m) });
  out.write("12345\n");
  out.write("67890\n"); // 12 bytes would wait
  out.write("abc\n"); // fits: 10
  out.write("x\n");
  await out.close();
  expect(await contents(path)).toBe("12345\nabc\n");
  expect(out.dropped).toBe(2);
  expect(warnings).toEqual(["log lines dropped: more than 10 bytes wait for a slow disk"]);
});
