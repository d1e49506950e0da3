/**
 * -routes-file is re-read while serving: a valid edit takes over, an invalid edit keeps the old
 * table serving and is logged as file:line:col, and a route that turns invalid keeps serving its
 * previous version.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ONE_PROCESS, startProxy, type RunningProxy } from "../support/binary.ts";
import { curl } from "../support/curl.ts";

let proxy: RunningProxy;
let file: string;

const hello = (text: string) => `hello: Path("/hello") -> inlineContent("${text}") -> <shunt>;\n`;

async function waitForBody(path: string, body: string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if ((await curl([proxy.url + path])).body === body) return;
    await Bun.sleep(50);
  }
  throw new Error(`${path} never answered ${JSON.stringify(body)}`);
}

beforeAll(async () => {
  file = join(await mkdtemp(join(tmpdir(), "sallyport-routes-")), "routes.eskip");
  await writeFile(file, hello("one"));
  proxy = await startProxy([...ONE_PROCESS, "-routes-file", file, "-source-poll-timeout", "100"]);
});

afterAll(async () => {
  await proxy?.stop();
});

test("serves the file's routes", async () => {
  expect((await curl([proxy.url + "/hello"])).body).toBe("one");
});

test("a valid edit is picked up without restart", async () => {
  await writeFile(file, hello("two") + `added: Path("/added") -> inlineContent("new route") -> <shunt>;\n`);
  await waitForBody("/added", "new route");
  expect((await curl([proxy.url + "/hello"])).body).toBe("two");
});

test("an invalid edit keeps the previous table and logs file:line:col", async () => {
  await writeFile(file, hello("three") + `broken: Path("/x") -> inlineContent("x") -> ;\n`);
  const line = await proxy.waitForLog(/routes\.eskip:2:/);
  expect(line).toContain(`${file}:2:`);
  expect(line).toContain("keeping the previous routes");
  expect((await curl([proxy.url + "/hello"])).body).toBe("two");
  expect((await curl([proxy.url + "/added"])).body).toBe("new route");
});

test("an invalid route is dropped and reported, the others serve", async () => {
  await writeFile(file, hello("four") + `bad: Path("/bad") -> noSuchFilter() -> <shunt>;\n`);
  const line = await proxy.waitForLog(/failed to process route bad/);
  expect(line).toContain("unknown_filter");
  expect(line).toContain(`${file}:2:`);
  await waitForBody("/hello", "four");
  expect((await curl([proxy.url + "/bad"])).status).toBe(404);
});

test("a route that turns invalid keeps serving its previous version", async () => {
  await writeFile(file, `hello: Path("/hello") -> inlineContnet("five") -> <shunt>;\n`);
  const line = await proxy.waitForLog(/failed to process route hello/);
  expect(line).toContain(`${file}:1:26:`);
  expect(line).toContain("its previous version keeps serving");
  expect(await proxy.waitForLog(/1 kept from the previous table/)).toContain("route settings applied, 1 routes, 1 invalid");
  expect((await curl([proxy.url + "/hello"])).body).toBe("four");
});
