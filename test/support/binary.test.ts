import { afterAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CREDENTIAL, isStale, mtimesOf, ROOT } from "./binary.ts";

describe("isStale", () => {
  test.each<{ title: string; binary: number | undefined; sources: number[]; stale: boolean }>([
    { title: "no binary", binary: undefined, sources: [1_000], stale: true },
    { title: "no binary, no sources", binary: undefined, sources: [], stale: true },
    { title: "all sources older", binary: 2_000, sources: [1_000, 1_999], stale: false },
    { title: "a source as old as the binary", binary: 2_000, sources: [2_000], stale: false },
    { title: "one source newer", binary: 2_000, sources: [1_000, 2_001, 1_500], stale: true },
    { title: "no sources", binary: 2_000, sources: [], stale: false },
  ])("$title → stale: $stale", ({ binary, sources, stale }) => {
    expect(isStale(binary, sources)).toBe(stale);
  });
});

describe("mtimesOf on real files", () => {
  const dir = mkdtempSync(join(tmpdir(), "sallyport-binary-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const src = join(dir, "src");
  const nested = join(src, "deep", "nested.ts");
  const top = join(dir, "package.json");
  mkdirSync(join(src, "deep"), { recursive: true });
  for (const file of [join(src, "main.ts"), nested, top]) writeFileSync(file, "");
  const at = (file: string, seconds: number) => utimesSync(file, seconds, seconds);
  const BINARY_TIME = 2_000_000;
  const inputs = [src, top, join(dir, "missing.ts")];

  test("walks directories recursively, takes plain files as they are, skips missing paths", () => {
    for (const [file, seconds] of [[join(src, "main.ts"), 1_000_001], [nested, 1_000_002], [top, 1_000_003]] as const) at(file, seconds);
    expect(mtimesOf(inputs).sort((a, b) => a - b)).toEqual([1_000_001_000, 1_000_002_000, 1_000_003_000]);
  });

  test.each<{ title: string; touched: string | undefined; stale: boolean }>([
    { title: "nothing saved after the build", touched: undefined, stale: false },
    { title: "a file deep under src/ saved after the build", touched: nested, stale: true },
    { title: "a top-level input saved after the build", touched: top, stale: true },
  ])("$title → stale: $stale", ({ touched, stale }) => {
    for (const file of [join(src, "main.ts"), nested, top]) at(file, BINARY_TIME - 10);
    if (touched !== undefined) at(touched, BINARY_TIME + 1);
    expect(isStale(BINARY_TIME * 1_000, mtimesOf(inputs))).toBe(stale);
  });
});

test("an explicit SALLYPORT_BIN that does not exist is refused, not built", async () => {
  const missing = join(tmpdir(), `sallyport-missing-${process.pid}`);
  const script = `await (await import(${JSON.stringify(join(import.meta.dir, "binary.ts"))})).ensureBinary();`;
  const proc = Bun.spawn([process.execPath, "-e", script], {
    cwd: ROOT,
    env: { ...process.env, SALLYPORT_BIN: missing },
    stdout: "pipe",
    stderr: "pipe",
  });
  const [stderr, code] = await Promise.all([new Response(proc.stderr).text(), proc.exited]);
  expect(code).not.toBe(0);
  expect(stderr).toContain(`SALLYPORT_BIN=${missing} does not exist`);
});

describe("CREDENTIAL, what no proxy log line may hold", () => {
  test.each(["Authorization: Bearer s3cr3t-token", "proxy-authorization=Basic YWxpY2U6cHc=", 'msg="sent bearer abcd1234"', "Basic dXNlcjpwYXNz"])("%s is caught", (line) => {
    expect(CREDENTIAL.test(line)).toBe(true);
  });
  test.each(['msg="route gh: bearerinjector(\\"/run/secrets/gh\\")"', "GET /basic HTTP/1.1", 'msg="egress allow client=127.0.0.1 user=\\"alice\\""'])("%s is not", (line) => {
    expect(CREDENTIAL.test(line)).toBe(false);
  });
});
