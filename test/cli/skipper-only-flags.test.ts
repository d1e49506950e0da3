/**
 * Skipper flags an egress command line carries: -insecure becomes config, the others are
 * accepted as their kind, named in `unwiredFlags` and warned about at start.
 */
import { describe, expect, test } from "bun:test";
import { SERVE_FLAGS, startupWarnings } from "../../src/cli/index.ts";
import { DEFAULT_CONFIG } from "../support/config.ts";
import { cli } from "./helpers.ts";

/** Skipper's kind and default of each flag that is accepted but does nothing yet. */
const UNWIRED: { name: string; kind: string; argv: string[] }[] = [
  { name: "enable-prometheus-metrics", kind: "bool", argv: ["--enable-prometheus-metrics=true"] },
  { name: "metrics-listener", kind: "string", argv: ["-metrics-listener", ":9912"] },
  { name: "remove-hop-headers", kind: "bool", argv: ["-remove-hop-headers=false"] },
  { name: "max-idle-connection-backend", kind: "int", argv: ["-max-idle-connection-backend", "1_000"] },
  { name: "close-idle-conns-period", kind: "duration", argv: ["-close-idle-conns-period", "1m"] },
];

describe("-insecure", () => {
  test.each<{ argv: string[]; insecure: boolean }>([
    { argv: [], insecure: false },
    { argv: ["-insecure"], insecure: true },
    { argv: ["--insecure=true"], insecure: true },
    { argv: ["-insecure", "-insecure=false"], insecure: false },
  ])("$argv → insecure: $insecure", async ({ argv, insecure }) => {
    const r = await cli(argv);
    expect(r.stderr).toBe("");
    expect(r.config).toEqual({ ...DEFAULT_CONFIG, insecure });
  });

  test("is a bool: -insecure=yes is Go's error, exit 2", async () => {
    const r = await cli(["-insecure=yes"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toStartWith('invalid boolean value "yes" for -insecure: parse error\n');
  });
});

describe("flags accepted for Skipper command lines", () => {
  test.each(UNWIRED)("-$name ($kind) parses and is named in unwiredFlags", async ({ name, argv }) => {
    const r = await cli([...argv, "-address=127.0.0.1:0"]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.config).toEqual({ ...DEFAULT_CONFIG, address: "127.0.0.1:0", unwiredFlags: [name] });
  });

  test("not given: none named", async () => {
    expect((await cli([])).config?.unwiredFlags).toEqual([]);
  });

  test("all at once: each named once, in flag table order", async () => {
    const argv = UNWIRED.toReversed().flatMap((flag) => flag.argv);
    const r = await cli([...argv, "-metrics-listener=:1"]);
    expect(r.stderr).toBe("");
    const order = SERVE_FLAGS.map((flag) => flag.name).filter((name) => UNWIRED.some((flag) => flag.name === name));
    expect(r.config?.unwiredFlags).toEqual(order);
    expect(r.config?.unwiredFlags).toHaveLength(UNWIRED.length);
  });

  test.each<{ argv: string[]; message: string }>([
    { argv: ["-access-log-disabled=yes"], message: 'invalid boolean value "yes" for -access-log-disabled: parse error' },
    { argv: ["-enable-prometheus-metrics="], message: 'invalid boolean value "" for -enable-prometheus-metrics: parse error' },
    { argv: ["-metrics-listener"], message: "flag needs an argument: -metrics-listener" },
    { argv: ["-wait-for-healthcheck-interval", "10"], message: 'invalid value "10" for flag -wait-for-healthcheck-interval: parse error' },
    { argv: ["-close-idle-conns-period=20x"], message: 'invalid value "20x" for flag -close-idle-conns-period: parse error' },
    { argv: ["-max-idle-connection-backend", "many"], message: 'invalid value "many" for flag -max-idle-connection-backend: parse error' },
    { argv: ["-max-idle-connection-backend=1.5"], message: 'invalid value "1.5" for flag -max-idle-connection-backend: parse error' },
    {
      argv: ["-remove-hop-headers", "true"],
      message: 'invalid arguments: [true]\n(a boolean flag takes its value after "=": -remove-hop-headers=true)',
    },
  ])("checked as its kind: $argv, exit 2", async ({ argv, message }) => {
    const r = await cli(argv);
    expect(r.code).toBe(2);
    expect(r.config).toBeUndefined();
    expect(r.stderr).toStartWith(`${message}\nUsage: sallyport [flags]\n`);
  });
});

describe("startupWarnings", () => {
  test("nothing to say for the defaults", () => {
    expect(startupWarnings(DEFAULT_CONFIG)).toEqual([]);
  });

  test("-insecure first, then one line per unwired flag", () => {
    const warnings = startupWarnings({ ...DEFAULT_CONFIG, insecure: true, unwiredFlags: ["enable-prometheus-metrics", "remove-hop-headers", "close-idle-conns-period"] });
    expect(warnings).toEqual([
      "-insecure: TLS certificates of backends are not verified",
      "flag -enable-prometheus-metrics is accepted for Skipper compatibility but /metrics is always in the Prometheus text format",
      "flag -remove-hop-headers is accepted for Skipper compatibility but hop-by-hop headers are always removed",
      "flag -close-idle-conns-period is accepted for Skipper compatibility but has no effect yet",
    ]);
  });

  test("the queue's limit without the queue, or the queue without a limit, is said", () => {
    expect(startupWarnings({ ...DEFAULT_CONFIG, maxTcpListenerConcurrency: 100 })).toEqual(["-max-tcp-listener-concurrency has no effect without -enable-tcp-queue"]);
    expect(startupWarnings({ ...DEFAULT_CONFIG, enableTcpQueue: true })).toEqual(["-enable-tcp-queue without -max-tcp-listener-concurrency: no limit"]);
    expect(startupWarnings({ ...DEFAULT_CONFIG, enableTcpQueue: true, maxTcpListenerConcurrency: 100 })).toEqual([]);
  });

  test.each(UNWIRED)("-$name has a warning", ({ name }) => {
    const [warning] = startupWarnings({ ...DEFAULT_CONFIG, unwiredFlags: [name] });
    expect(warning).toStartWith(`flag -${name} is accepted for Skipper compatibility but `);
  });
});

describe("usage", () => {
  test.each<{ name: string; lines: string }>([
    { name: "insecure", lines: "  -insecure\n    \tdo not verify the TLS certificates of backends\n" },
    { name: "enable-prometheus-metrics", lines: "  -enable-prometheus-metrics\n    \tSkipper's switch to Prometheus metrics; accepted, /metrics on -support-listener is always Prometheus text\n" },
    { name: "metrics-listener", lines: '  -metrics-listener string\n    \tSkipper\'s legacy /metrics listener; accepted, /metrics is served on -support-listener (default ":9911")\n' },
    { name: "remove-hop-headers", lines: "  -remove-hop-headers\n    \taccepted for Skipper command lines; hop-by-hop headers are always removed\n" },
    { name: "max-idle-connection-backend", lines: "  -max-idle-connection-backend int\n    \tSkipper's limit of idle backend connections; accepted, no effect yet\n" },
    { name: "close-idle-conns-period", lines: "  -close-idle-conns-period duration\n    \tSkipper's interval for closing idle backend connections; accepted, no effect yet (default 20s)\n" },
  ])("-$name", async ({ lines }) => {
    expect((await cli(["-help"])).stdout).toContain(lines);
  });
});
