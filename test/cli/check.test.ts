/** `sallyport check`, run in-process: what it reports for files the proxy would refuse or misroute. */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runCheck } from "../../src/cli/check.ts";
import { makeFifo, withoutHanging } from "../routing/fifo.ts";

const dirs: string[] = [];
afterAll(() => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));

async function routesFile(text: string, name = "routes.eskip"): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "sallyport-check-"));
  dirs.push(dir);
  const path = join(dir, name);
  await writeFile(path, text);
  return path;
}

/** The exit code and the report lines of `sallyport check ...files`. */
async function check(...files: string[]): Promise<{ code: number; lines: string[] }> {
  let written = "";
  const code = await runCheck(files, { write: (text) => (written += text) });
  return { code, lines: written.split("\n").filter(Boolean) };
}

describe("unreadable files", () => {
  test("a FIFO is reported as not a regular file, without waiting for a writer", async () => {
    const dir = await mkdtemp(join(tmpdir(), "sallyport-check-"));
    dirs.push(dir);
    const fifo = join(dir, "fifo");
    await makeFifo(fifo);
    expect(await withoutHanging(fifo, () => check(fifo))).toEqual({ code: 1, lines: [`${fifo}: cannot read: not a regular file`] });
  });
});

describe("load balancer algorithms", () => {
  test.each(["toString", "__proto__"])("<%s, ...> is reported at the route, exit 1", async (name) => {
    const file = await routesFile(`ok: * -> <shunt>;\n\nlb: Path("/x")\n  -> <${name}, "http://a", "http://b">;\n`);
    expect(await check(file)).toEqual({
      code: 1,
      lines: [
        `${file}:3:1: route lb: failed_backend_split: unsupported algorithm "${name}" (supported: roundRobin, random, consistentHash, powerOfRandomNChoices)`,
      ],
    });
  });
});

describe("duplicate route ids", () => {
  test("within one file: reported at the later definition with the earlier one, exit 1", async () => {
    const file = await routesFile(`x: * -> <shunt>;\ny: * -> <shunt>;\n  x: Path("/x") -> <shunt>;\n`);
    expect(await check(file)).toEqual({ code: 1, lines: [`${file}:3:3: duplicate route id "x" (also defined at ${file}:1:1)`] });
  });

  test("across files, in file and line order among the other problems", async () => {
    const first = await routesFile(`x: * -> <shunt>;\nbad: * -> noSuch() -> <shunt>;\n`, "first.eskip");
    const second = await routesFile(`\nx: * -> <shunt>;\n`, "second.eskip");
    expect(await check(first, second)).toEqual({
      code: 1,
      lines: [
        `${first}:2:11: route bad: unknown_filter: unknown filter "noSuch"`,
        `${second}:2:1: duplicate route id "x" (also defined at ${first}:1:1)`,
      ],
    });
  });

  test("distinct ids pass", async () => {
    const file = await routesFile(`x: * -> <shunt>;\ny: * -> <shunt>;\n`);
    expect(await check(file)).toEqual({ code: 0, lines: [] });
  });
});
