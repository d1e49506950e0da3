import { expect, test } from "bun:test";
import { createLogger, setLogFormat } from "../../src/log/index.ts";

test("a message repeated at once is logged every time (consola would fold repeats)", () => {
  const lines: string[] = [];
  const log = createLogger("info", { write: (line) => lines.push(line) });
  for (let i = 0; i < 10; i++) log.info("egress deny client=127.0.0.1 host=\"a\" reason=deny-rule");
  expect(lines).toHaveLength(10);
  expect(lines[9]).toContain('msg="egress deny client=127.0.0.1');
});

const RFC3339_UTC = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/;

test("text lines are logrus's non-TTY layout behind [APP]", () => {
  const lines: string[] = [];
  createLogger("info", { write: (line) => lines.push(line) }).warn('Listen on "x"');
  const m = /^\[APP\]time="([^"]+)" level=(\w+) msg=(".*")\n$/.exec(lines[0]!);
  expect(m).not.toBeNull();
  expect(m![1]).toMatch(RFC3339_UTC);
  expect([m![2], JSON.parse(m![3]!)]).toEqual(["warning", 'Listen on "x"']);
});

test("-application-log-json-enabled: logrus JSON lines, keys level, msg, time in that order, no prefix", () => {
  const lines: string[] = [];
  const log = createLogger("debug", { write: (line) => lines.push(line) }, { json: true });
  log.info("Listen on :9090");
  log.warn("circuit open", new Error("boom"));
  log.debug({ a: 1 });
  expect(lines.every((l) => l.startsWith("{") && l.endsWith("}\n"))).toBe(true);
  const parsed = lines.map((l) => JSON.parse(l) as Record<string, string>);
  expect(parsed.map((p) => Object.keys(p))).toEqual([
    ["level", "msg", "time"],
    ["level", "msg", "time"],
    ["level", "msg", "time"],
  ]);
  expect(parsed.map(({ level, msg }) => ({ level, msg }))).toEqual([
    { level: "info", msg: "Listen on :9090" },
    { level: "warning", msg: "circuit open boom" },
    { level: "debug", msg: '{"a":1}' },
  ]);
  for (const p of parsed) expect(p.time).toMatch(RFC3339_UTC);
  expect(Math.abs(Date.parse(parsed[0]!.time!) - Date.now())).toBeLessThan(5_000);
});

test("setLogFormat switches an existing logger (main's process-wide one) to JSON and back, level kept", () => {
  const lines: string[] = [];
  const sink = { write: (line: string) => void lines.push(line) };
  const log = createLogger("info", sink);
  setLogFormat(log, { json: true }, sink);
  log.info("json");
  log.debug("too quiet");
  setLogFormat(log, { json: false }, sink);
  log.info("text");
  expect(lines).toHaveLength(2);
  expect(JSON.parse(lines[0]!)).toMatchObject({ level: "info", msg: "json" });
  expect(lines[1]).toStartWith('[APP]time="');
  expect(lines[1]).toEndWith(' level=info msg="text"\n');
});

test("under -workers every line names its process: worker=N after msg in text, a sorted worker key in JSON", () => {
  const lines: string[] = [];
  const sink = { write: (line: string) => void lines.push(line) };
  createLogger("info", sink, { worker: 0 }).info("text");
  createLogger("info", sink, { json: true, worker: 3 }).info("json");
  expect(lines[0]).toMatch(/^\[APP\]time="[^"]+" level=info msg="text" worker=0\n$/);
  expect(Object.entries(JSON.parse(lines[1]!) as object).map(([key]) => key)).toEqual(["level", "msg", "time", "worker"]);
  expect(JSON.parse(lines[1]!)).toMatchObject({ msg: "json", worker: 3 });
});
