import { afterEach, beforeEach, expect, test } from "bun:test";
import { mkdtemp, readFile, rename, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openAccessLog, type AccessLog, type AccessLogOptions } from "../../src/accesslog/index.ts";
import { Exchanges } from "../../src/exchange/record.ts";
import { FLUSH_MS } from "../../src/log/line-writer.ts";
import { nextTurn } from "../../src/util/clock.ts";
import { FakeClock } from "../support/clock.ts";
import { parseDate, parseJson, parseText, STARTED_AT } from "./helpers.ts";

let dir: string;
let path: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "sallyport-access-log-"));
  path = join(dir, "access.log");
});
/** every access log a test opened is closed after it, even when it failed half-way */
const opened: AccessLog[] = [];
afterEach(async () => {
  await Promise.all(opened.splice(0).map((log) => log.close()));
  await rm(dir, { recursive: true, force: true });
});

const lines = async (file: string) => (await readFile(file, "utf8")).split(/(?<=\n)/).filter(Boolean);

/** An access log on a fake clock whose wall clock reads STARTED_AT when the clock starts. */
async function setup(options: Partial<AccessLogOptions> = {}) {
  const clock = new FakeClock();
  const origin = clock.now();
  const exchanges = new Exchanges(clock);
  const accessLog = await openAccessLog(exchanges, { path, json: false, stripQuery: true, clock, wallClock: () => STARTED_AT + (clock.now() - origin), ...options });
  opened.push(accessLog);
  /** one request for `path`, taking `ms` */
  async function request(p: string, ms = 5) {
    const r = exchanges.begin("proxy", "10.0.0.7", "GET", "h.example", p);
    r.status = 200;
    await clock.advance(ms);
    exchanges.complete(r);
  }
  return { clock, exchanges, accessLog, request };
}

test("each completed exchange is a line in the file, within FLUSH_MS, stamped with its start", async () => {
  const { clock, accessLog, request } = await setup();
  await clock.advance(3_000);
  await request("/a", 1_500);
  await request("/b");
  // Lines are made on the next turn, then written within FLUSH_MS.
  await nextTurn();
  expect(await lines(path)).toEqual([]);
  await clock.advance(FLUSH_MS);
  const parsed = (await lines(path)).map(parseText);
  expect(parsed.map((f) => [f.uri, f.duration])).toEqual([
    ["/a", 1500],
    ["/b", 5],
  ]);
  expect(parseDate(parsed[0]!.timestamp as string)).toBe(Math.floor((STARTED_AT + 3_000) / 1000) * 1000);
  await accessLog.close();
});

test("-access-log-json-enabled writes JSON lines", async () => {
  const { accessLog, request } = await setup({ json: true });
  await request("/a");
  await accessLog.close();
  expect((await lines(path)).map(parseJson)).toMatchObject([{ uri: "/a", status: 200, host: "10.0.0.7" }]);
});

test("SIGUSR1's reopen: after logrotate renamed the file, new lines go to a fresh file at the path, old ones stay", async () => {
  const { accessLog, request } = await setup();
  await request("/before-1");
  await accessLog.flush();
  await request("/before-2"); // still queued when the file is renamed
  await rename(path, `${path}.1`);
  await accessLog.reopen();
  await request("/after");
  await accessLog.close();
  expect((await lines(`${path}.1`)).map((l) => parseText(l).uri)).toEqual(["/before-1", "/before-2"]);
  expect((await lines(path)).map((l) => parseText(l).uri)).toEqual(["/after"]);
});

test("close() writes every queued line at once and stops logging", async () => {
  const { exchanges, accessLog, request } = await setup();
  await request("/last");
  await accessLog.close();
  expect((await lines(path)).map((l) => parseText(l).uri)).toEqual(["/last"]);
  expect(exchanges.observed).toBe(false);
});

test("a path that cannot be opened fails the start, naming the flag", async () => {
  const exchanges = new Exchanges(new FakeClock());
  const bad = join(dir, "missing", "access.log");
  await expect(openAccessLog(exchanges, { path: bad, json: false, stripQuery: true, clock: new FakeClock() })).rejects.toThrow(`-access-log ${bad}: ENOENT`);
  expect(exchanges.observed).toBe(false);
});

test('-access-log "" writes to stderr', async () => {
  const script = `
    import { openAccessLog } from "${join(import.meta.dir, "../../src/accesslog/index.ts")}";
    import { Exchanges } from "${join(import.meta.dir, "../../src/exchange/record.ts")}";
    import { systemClock } from "${join(import.meta.dir, "../../src/util/clock.ts")}";
    const exchanges = new Exchanges(systemClock);
    const log = await openAccessLog(exchanges, { path: "", json: false, stripQuery: true, clock: systemClock });
    const r = exchanges.begin("proxy", "10.0.0.7", "GET", "h.example", "/to-stderr");
    r.status = 204;
    exchanges.complete(r);
    await log.close();`;
  await using proc = Bun.spawn([process.execPath, "-e", script], { stdout: "pipe", stderr: "pipe" });
  const [stdout, stderr, code] = await Promise.all([proc.stdout.text(), proc.stderr.text(), proc.exited]);
  expect([stdout, code]).toEqual(["", 0]);
  expect(parseText(stderr)).toMatchObject({ uri: "/to-stderr", status: 204, "requested-host": "h.example" });
});
